import Testing
@Test func configBuilds() {}
