import Testing
@Test func rtuschedulerBuilds() {}
