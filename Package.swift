// swift-tools-version:6.1
// hwlabel: assignable PCIe hardware descriptors for Linux KVM hosts.
//
// Module chain (one way): hwlabel → HWLabelService → HWLabelCore → HWLabelProbe → CHWLabelShim
// (and hwlabel, HWLabelService → CHWLabelExecutor, the agent's executor: a leaf beside the chain).
// A module's name says what it may touch: Probe reads the machine, Core decides (no file system,
// clock or process state), Service writes and talks (files, the daemon, sinks, Placement).
import PackageDescription

let package = Package(
    name: "hwlabel",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hwlabel", targets: ["hwlabel"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Tiny C shim: fixed-arity wrappers over libpci's variadic lookups, non-exiting
        // error hooks, and the libudev calls Swift cannot make ergonomically. No logic.
        .target(
            name: "CHWLabelShim",
            linkerSettings: [.linkedLibrary("pci"), .linkedLibrary("udev")]
        ),
        // The agent's global executor for Swift concurrency (hwlabel_executor.h): threads that
        // sleep until a job or a deadline is due, instead of libdispatch's global queues and
        // their once-a-second pool monitor. The executable installs it for `agent` only; the
        // reporter's timers sleep on it (AgentSleep) when it is installed.
        .target(name: "CHWLabelExecutor"),
        // Reads the machine (live sysfs + libudev, a captured sysfs root, or an lspci dump)
        // into one parsed Snapshot value.
        .target(
            name: "HWLabelProbe",
            dependencies: [
                "CHWLabelShim",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Pure decisions over a Snapshot: descriptors, modes, labels, readiness, checks, the
        // report and its canonical JSON and digest. No file system, clock or process state.
        .target(
            name: "HWLabelCore",
            dependencies: [
                "HWLabelProbe",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Everything that writes or talks: the agent daemon, its sinks (controller over HTTP,
        // file, Kubernetes NFD, OpenStack Placement), atomic files, the label store, the
        // inventory document.
        .target(
            name: "HWLabelService",
            dependencies: [
                "HWLabelCore",
                "CHWLabelExecutor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "hwlabel",
            dependencies: [
                "HWLabelService",
                "CHWLabelExecutor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Release: linked by lld with packed relative relocations (DT_RELR), still
            // position-independent, so startup does not apply 2.8 MB of .rela.dyn. Built with
            // `swift build -c release --static-swift-stdlib` (as the scripts do), the runtime
            // and Foundation are linked in too; BENCHMARKS.md has what each saves.
            // No symbol table for the dynamic linker: the driver exports every symbol of an
            // executable (150,000 here), which nothing looks up, and the agent kept 2.8 MB of
            // it mapped. The functions an agent runs come first, in one block
            // (scripts/agent-symbols.order, made by scripts/agent-order.sh): the kernel maps
            // code 64 KiB around each page it faults in, so hot code scattered over 26 MB of
            // .text kept 12 MB resident.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                        "-Xlinker", "--no-export-dynamic",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/agent-symbols.order",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ],
                    .when(platforms: [.linux], configuration: .release))
            ]
        ),
        // Shared by the test targets, not a product: the kernel-layout tree builder (also what
        // `bench/` builds its trees with), recorded fixtures' paths, builders of model values,
        // a real HTTP controller and a real Placement server.
        .target(
            name: "HWLabelTestSupport",
            dependencies: [
                "HWLabelService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/HWLabelTestSupport"
        ),
        // Writes kernel-shaped sysfs trees of N functions for bench/ (not a product): the tree
        // builder of HWLabelTestSupport, so tests and benchmarks share one layout.
        .executableTarget(name: "hwlabel-treegen", dependencies: ["HWLabelTestSupport"], path: "Tests/HWLabelTreeGen"),
        .testTarget(name: "HWLabelProbeTests", dependencies: ["HWLabelProbe", "HWLabelTestSupport"]),
        .testTarget(name: "HWLabelCoreTests", dependencies: ["HWLabelCore", "HWLabelTestSupport"]),
        .testTarget(
            name: "HWLabelServiceTests",
            dependencies: [
                "HWLabelService",
                "CHWLabelExecutor",
                "HWLabelTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["umockdev_hotplug.py"]
        ),
    ]
)
