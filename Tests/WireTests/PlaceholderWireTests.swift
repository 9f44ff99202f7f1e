import Testing
@Test func wireBuilds() {}
