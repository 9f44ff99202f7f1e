import Testing
@Test func stackBuilds() {}
