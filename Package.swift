// swift-tools-version:6.0
import PackageDescription

// Language mode 5: the data path runs on pinned pthreads whose ownership rules
// (one owner per connection, SPSC rings between threads; ARCHITECTURE.md) are
// not expressible to the Swift 6 checker without blanket @unchecked Sendable.
let fast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "rtud",
    products: [
        .executable(name: "rtud", targets: ["rtud"]),
        .executable(name: "rtuctl", targets: ["rtuctl"]),
        .library(name: "RTUClient", targets: ["RTUClient"]),
        // librtuclient.so: the C API (include/rtuclient.h) over RTUClient.
        .library(name: "rtuclient", type: .dynamic, targets: ["RTUClientC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CShims", linkerSettings: [.linkedLibrary("pcap")]),
        .target(name: "Wire", swiftSettings: fast),
        .target(name: "Links", dependencies: ["Wire", "CShims"], swiftSettings: fast),
        .target(name: "Stack", dependencies: ["Wire", "Links", "CShims"], swiftSettings: fast),
        .target(name: "RTUScheduler", dependencies: ["CShims"], swiftSettings: fast),
        .target(name: "SharedRings", dependencies: ["CShims", "Wire"], swiftSettings: fast),
        .target(name: "UserUDP", dependencies: ["Stack", "RTUScheduler", "SharedRings", "Links", "Wire", "CShims"],
                swiftSettings: fast),
        // One host of the stack: ports, their RT cores, the in-process socket
        // API. What rtud runs, and what the UDP tests and benchmarks run in
        // process (a library so they need not go through the daemon).
        .target(name: "Node", dependencies: ["UserUDP", "Stack", "RTUScheduler", "Links", "Wire", "CShims", "ATM"],
                swiftSettings: fast),
        .target(name: "Config", dependencies: ["Wire"]),
        .target(name: "Service", dependencies: ["Config", "CShims"]),
        .target(name: "ATM", dependencies: ["Wire", "Links"], swiftSettings: fast),
        .target(name: "Control", dependencies: ["Wire", "CShims"], swiftSettings: fast),
        .executableTarget(
            name: "rtud",
            dependencies: [
                "Wire", "Links", "Stack", "RTUScheduler", "Config", "CShims", "Node", "UserUDP", "SharedRings",
                "Control", "Service", "ATM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),
        // What applications link: the control connection and the sockets' shared rings.
        .target(name: "RTUClient", dependencies: ["Control", "SharedRings", "Wire", "CShims"], swiftSettings: fast),
        .target(name: "RTUClientC", dependencies: ["RTUClient", "Control", "SharedRings", "Wire"], swiftSettings: fast),
        // The Swift example application (and the application side of the end-to-end tests and benchmark).
        .executableTarget(name: "rtu-udp", dependencies: [
            "RTUClient", "Control", "SharedRings", "UserUDP", "Wire", "Config", "CShims", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .executableTarget(name: "rtuctl", dependencies: [
            "RTUClient", "Control", "Config", "Wire", "CShims", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Benchmarks (not tests): run by scripts/bench-*.sh, results in BENCHMARKS.md.
        .executableTarget(name: "wire-bench", dependencies: ["Wire"], swiftSettings: fast),
        .executableTarget(name: "link-bench", dependencies: ["Links", "Wire", "CShims"], swiftSettings: fast),
        .executableTarget(name: "alloc-check", dependencies: ["ATM", "Stack", "Links", "Wire", "UserUDP", "SharedRings"]),
        .executableTarget(name: "udp-node", dependencies: ["Node", "UserUDP", "Stack", "Links", "Wire", "RTUScheduler", "CShims"],
                          swiftSettings: fast),
        .executableTarget(name: "sched-bench", dependencies: ["RTUScheduler", "CShims"], swiftSettings: fast),
        .executableTarget(name: "atm-bench", dependencies: ["ATM", "Stack", "Links", "Wire"], swiftSettings: fast),
        .executableTarget(name: "scale-bench", dependencies: [
            "RTUClient", "Control", "SharedRings", "RTUScheduler", "Wire", "CShims",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        // The two-node fixture the UDP and ATM tests share (a library, not tests).
        .target(name: "NodeTestSupport", dependencies: ["Node", "Stack", "RTUScheduler", "Links", "Wire", "CShims"],
                path: "Tests/NodeTestSupport"),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "LinksTests", dependencies: ["Links", "Wire", "CShims"]),
        .testTarget(name: "StackTests", dependencies: ["Stack", "Links", "Wire"]),
        .testTarget(name: "UserUDPTests", dependencies: ["NodeTestSupport", "Node", "UserUDP", "SharedRings", "Stack", "RTUScheduler", "Links", "Wire"]),
        .testTarget(name: "RTUSchedulerTests", dependencies: ["RTUScheduler", "CShims"]),
        .testTarget(name: "SharedRingsTests", dependencies: ["SharedRings", "CShims"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config"]),
        .testTarget(name: "ServiceTests", dependencies: ["Service", "Config"]),
        .testTarget(name: "ATMTests", dependencies: ["ATM", "Stack", "Links", "Wire", "Node", "UserUDP", "RTUScheduler",
                                                     "NodeTestSupport"]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Wire"]),
        // Control and SharedRings: the hostile-client tests speak the protocol and scribble on a ring in process.
        .testTarget(name: "IntegrationTests", dependencies: ["Wire", "CShims", "Control", "SharedRings", "RTUClient", "UserUDP"]),
    ],
    swiftLanguageModes: [.v5]
)
