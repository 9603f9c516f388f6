import Testing
import HWLabelProbe
@testable import HWLabelAgent

/// One case per readiness reason code: a built snapshot, the code it must produce, its severity
/// and the state the descriptor must end in.
struct ReadinessCase: Sendable, CustomTestStringConvertible {
    let code: String
    let severity: ReadinessReason.Severity
    let state: Readiness.State
    /// Text the reason's message must contain (names the offender, the driver, the fix).
    let mentions: [String]
    let build: @Sendable () -> Snapshot
    var testDescription: String { "\(code) → \(state.rawValue)" }
}

private typealias F = AgentFixture

private let gpu = "0000:3b:00.0"

private func gpuSnapshot(_ change: (inout PCIFunction, inout HostFacts) -> Void, extra: [PCIFunction] = [], iommu: Bool? = true) -> Snapshot {
    var f = F.function(gpu, "10de", "1eb8", class: 0x030200, group: 10)
    var h = F.host
    change(&f, &h)
    return F.snapshot([f] + extra, host: h, iommu: iommu)
}

let readinessCases: [ReadinessCase] = [
    .init(code: "iommu-off", severity: .blocker, state: .notReady, mentions: ["intel_iommu=on iommu=pt"]) {
        gpuSnapshot({ f, _ in f.iommuGroup = nil }, iommu: false)
    },
    .init(code: "iommu-unknown", severity: .blocker, state: .notReady, mentions: ["unknown"]) {
        gpuSnapshot({ _, _ in }, iommu: nil)
    },
    .init(code: "no-iommu-group", severity: .blocker, state: .notReady, mentions: [gpu]) {
        gpuSnapshot { f, _ in f.iommuGroup = nil }
    },
    .init(code: "group-not-viable", severity: .binding, state: .readyAfterBinding, mentions: ["0000:3b:00.2 (xhci_hcd)"]) {
        gpuSnapshot({ _, _ in }, extra: [F.function("0000:3b:00.2", "10de", "1ad6", class: 0x0c0330, driver: "xhci_hcd", group: 10)])
    },
    .init(code: "not-bound-to-vfio", severity: .binding, state: .readyAfterBinding, mentions: ["bound to nvidia"]) {
        gpuSnapshot { f, _ in f.driver = "nvidia" }
    },
    .init(code: "companion-not-bound", severity: .binding, state: .readyAfterBinding, mentions: ["0000:3b:00.1 (snd_hda_intel)"]) {
        gpuSnapshot({ f, _ in f.gpu?.companions = [Companion(address: F.addr("0000:3b:00.1"), role: "audio", classCode: "040300")] },
                    extra: [F.function("0000:3b:00.1", "10de", "10fa", class: 0x040300, driver: "snd_hda_intel", group: 10)])
    },
    .init(code: "no-reset-method", severity: .risk, state: .ready, mentions: ["reset_method is empty"]) {
        gpuSnapshot { f, _ in f.resetMethods = [] }
    },
    .init(code: "no-reset-method", severity: .risk, state: .ready, mentions: ["no FLR", "NoSoftRst+"]) {
        gpuSnapshot { f, _ in f.resetMethods = nil; f.capabilities?.flr = false; f.capabilities?.pmNoSoftReset = true }
    },
    .init(code: "reset-unknown", severity: .info, state: .ready, mentions: ["run as root"]) {
        gpuSnapshot { f, _ in f.resetMethods = nil; f.capabilities = nil; f.configSpace = ConfigSpaceAccess(readableBytes: 64, source: .sysfs) }
    },
    .init(code: "config-unreadable", severity: .info, state: .ready, mentions: ["capabilities not readable, run as root"]) {
        gpuSnapshot { f, _ in f.configSpace = ConfigSpaceAccess(readableBytes: 64, source: .sysfs) }
    },
    // A capture without `config` files: running as root would not help, so it must not say so.
    .init(code: "config-unreadable", severity: .info, state: .ready, mentions: ["no config space in this source"]) {
        gpuSnapshot { f, _ in f.configSpace = ConfigSpaceAccess(readableBytes: 0, source: .none) }
    },
    .init(code: "boot-vga", severity: .blocker, state: .notReady, mentions: ["boot VGA"]) {
        gpuSnapshot { f, _ in f.bootVGA = true }
    },
    .init(code: "host-root-filesystem", severity: .blocker, state: .notReady, mentions: ["0000:3b:00.0 holds the host's root file system"]) {
        gpuSnapshot { f, h in h.rootFilesystemDevices = [f.address] }
    },
    .init(code: "host-root-filesystem", severity: .blocker, state: .notReady, mentions: ["0000:3b:00.3 (same IOMMU group)"]) {
        gpuSnapshot({ _, h in h.rootFilesystemDevices = [F.addr("0000:3b:00.3")] },
                    extra: [F.function("0000:3b:00.3", "144d", "a808", class: 0x010802, driver: "nvme", group: 10)])
    },
    .init(code: "host-default-route", severity: .blocker, state: .notReady, mentions: ["default route"]) {
        gpuSnapshot { f, h in h.defaultRouteDevices = [f.address] }
    },
    .init(code: "no-interrupt-remapping", severity: .blocker, state: .notReady, mentions: ["allow_unsafe_interrupts"]) {
        gpuSnapshot { _, h in h.interruptRemapping = false; h.unsafeInterruptsAllowed = false }
    },
    .init(code: "unsafe-interrupts", severity: .risk, state: .ready, mentions: ["allow_unsafe_interrupts=1"]) {
        gpuSnapshot { _, h in h.interruptRemapping = false; h.unsafeInterruptsAllowed = true }
    },
    .init(code: "acs-override", severity: .risk, state: .ready, mentions: ["pcie_acs_override=downstream,multifunction"]) {
        gpuSnapshot { _, h in h.acsOverride = "downstream,multifunction" }
    },
]

@Suite("Agent readiness")
struct AgentReadinessTests {
    @Test("every reason code", arguments: readinessCases)
    func reason(_ c: ReadinessCase) throws {
        let set = F.descriptors(c.build())
        let d = try #require(set.descriptor(at: F.addr(gpu)))
        let r = try #require(d.readiness.reasons.first { $0.code == c.code }, "reasons: \(d.readiness.reasons.map(\.code))")
        #expect(r.severity == c.severity)
        #expect(d.readiness.state == c.state)
        for m in c.mentions { #expect(r.message.contains(m) || d.readiness.remediation.joined(separator: "\n").contains(m), "\(m) not in \(r.message)") }
    }

    @Test("the reason table covers every documented code")
    func allCodesCovered() {
        let documented = ["iommu-off", "iommu-unknown", "no-iommu-group", "group-not-viable", "not-bound-to-vfio",
                          "companion-not-bound", "no-reset-method", "reset-unknown", "boot-vga", "host-root-filesystem",
                          "host-default-route", "no-interrupt-remapping", "unsafe-interrupts", "acs-override", "config-unreadable"]
        #expect(Set(readinessCases.map(\.code)) == Set(documented))
    }

    @Test("a clean, vfio-bound device is ready with no reasons and no remediation")
    func ready() throws {
        let d = try #require(F.descriptors(gpuSnapshot { _, _ in }).descriptor(at: F.addr(gpu)))
        #expect(d.readiness.state == .ready)
        #expect(d.readiness.reasons.isEmpty)
        #expect(d.readiness.remediation.isEmpty)
    }

    @Test("binding remediation names driverctl for the device, its companion and the group offender")
    func bindingRemediation() throws {
        let snap = gpuSnapshot({ f, _ in
            f.driver = "nouveau"
            f.gpu?.companions = [Companion(address: F.addr("0000:3b:00.1"), role: "audio", classCode: "040300")]
        }, extra: [F.function("0000:3b:00.1", "10de", "10fa", class: 0x040300, driver: "snd_hda_intel", group: 10),
                   F.function("0000:3c:00.0", "8086", "1533", class: 0x020000, driver: "igb", group: 10)])
        let d = try #require(F.descriptors(snap).descriptor(at: F.addr(gpu)))
        #expect(d.readiness.state == .readyAfterBinding)
        #expect(d.readiness.remediation == ["modprobe vfio-pci",
                                            "driverctl set-override 0000:3b:00.0 vfio-pci",
                                            "driverctl set-override 0000:3b:00.1 vfio-pci",
                                            "driverctl set-override 0000:3c:00.0 vfio-pci"])
        // The companion travels with the GPU: no descriptor of its own.
        #expect(F.descriptors(snap).descriptor(at: F.addr("0000:3b:00.1")) == nil)
    }

    @Test("bridges in the group do not count; pci-stub and unbound members keep it viable")
    func bridgesDoNotCount() throws {
        var bridge = F.function("0000:3a:00.0", "8086", "2030", class: 0x060400, driver: "pcieport", group: 10)
        bridge.headerType = 1
        let snap = gpuSnapshot({ _, _ in }, extra: [bridge,
            F.function("0000:3b:00.4", "10de", "0001", class: 0x020000, driver: "pci-stub", group: 10),
            F.function("0000:3b:00.5", "10de", "0002", class: 0x020000, driver: nil, group: 10)])
        let set = F.descriptors(snap)
        let d = try #require(set.descriptor(at: F.addr(gpu)))
        #expect(!d.readiness.reasons.contains { $0.code == "group-not-viable" })
        #expect(set.descriptor(at: F.addr("0000:3a:00.0")) == nil, "a bridge is never a descriptor")
    }
}
