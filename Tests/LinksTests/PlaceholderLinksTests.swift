import Testing
@Test func linksBuilds() {}
