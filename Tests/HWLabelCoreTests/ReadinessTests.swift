import Foundation
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

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

private typealias F = DeviceFixtures

private let gpu = "0000:3b:00.0"

private func gpuSnapshot(_ change: (inout PCIFunction, inout HostFacts) -> Void, extra: [PCIFunction] = [], iommu: Bool? = true) -> Snapshot
{
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
        gpuSnapshot(
            { f, _ in f.gpu?.companions = [Companion(address: F.addr("0000:3b:00.1"), role: "audio", classCode: "040300")] },
            extra: [F.function("0000:3b:00.1", "10de", "10fa", class: 0x040300, driver: "snd_hda_intel", group: 10)])
    },
    .init(code: "no-reset-method", severity: .risk, state: .ready, mentions: ["reset_method is empty"]) {
        gpuSnapshot { f, _ in f.resetMethods = [] }
    },
    .init(code: "no-reset-method", severity: .risk, state: .ready, mentions: ["no FLR", "NoSoftRst+"]) {
        gpuSnapshot { f, _ in
            f.resetMethods = nil; f.capabilities?.flr = false; f.capabilities?.pmNoSoftReset = true
        }
    },
    .init(code: "reset-unknown", severity: .info, state: .ready, mentions: ["run as root"]) {
        gpuSnapshot { f, _ in
            f.resetMethods = nil; f.capabilities = nil; f.configSpace = ConfigSpaceAccess(readableBytes: 64, source: .sysfs)
        }
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
    .init(code: "host-root-filesystem", severity: .blocker, state: .notReady, mentions: ["0000:3b:00.0 holds the host's root file system"])
    {
        gpuSnapshot { f, h in h.rootFilesystemDevices = [f.address] }
    },
    .init(code: "host-root-filesystem", severity: .blocker, state: .notReady, mentions: ["0000:3b:00.3 (same IOMMU group)"]) {
        gpuSnapshot(
            { _, h in h.rootFilesystemDevices = [F.addr("0000:3b:00.3")] },
            extra: [F.function("0000:3b:00.3", "144d", "a808", class: 0x010802, driver: "nvme", group: 10)])
    },
    .init(code: "host-default-route", severity: .blocker, state: .notReady, mentions: ["default route"]) {
        gpuSnapshot { f, h in h.defaultRouteDevices = [f.address] }
    },
    .init(code: "no-interrupt-remapping", severity: .blocker, state: .notReady, mentions: ["allow_unsafe_interrupts"]) {
        gpuSnapshot { _, h in
            h.interruptRemapping = false; h.unsafeInterruptsAllowed = false
        }
    },
    .init(code: "unsafe-interrupts", severity: .risk, state: .ready, mentions: ["allow_unsafe_interrupts=1"]) {
        gpuSnapshot { _, h in
            h.interruptRemapping = false; h.unsafeInterruptsAllowed = true
        }
    },
    .init(code: "acs-override", severity: .risk, state: .ready, mentions: ["pcie_acs_override=downstream,multifunction"]) {
        gpuSnapshot { _, h in h.acsOverride = "downstream,multifunction" }
    },
    // An lspci dump records no drivers: unknown, never "not bound to any driver".
    .init(code: "driver-unknown", severity: .info, state: .notReady, mentions: ["records no driver bindings"]) {
        var s = gpuSnapshot({ f, _ in f.driver = nil }, iommu: nil)
        s.source = SnapshotSource(kind: "dump", path: "/t.lspci")
        s.host = nil
        return s
    },
    .init(code: "host-in-use", severity: .blocker, state: .notReady, mentions: ["pid 4242 (Xorg) has /dev/dri/card0 open"]) {
        gpuSnapshot { f, h in
            f.driver = "nvidia"
            h.deviceHolders = [DeviceHolder(address: f.address, pid: 4242, process: "Xorg", node: "/dev/dri/card0", kind: "drm")]
        }
    },
    // A companion in use by the host counts too (its audio function held by a sound server).
    .init(code: "host-in-use", severity: .blocker, state: .notReady, mentions: ["eth4 is up"]) {
        gpuSnapshot(
            { _, h in h.hostUses = [HostUse(address: F.addr("0000:3b:00.3"), kind: "network-up", detail: "eth4 is up with 10.1.0.0/16")] },
            extra: [F.function("0000:3b:00.3", "8086", "1521", class: 0x020000, driver: "vfio-pci", group: 10)])
    },
    .init(
        code: "assigned-to-vm", severity: .blocker, state: .notReady, mentions: ["pid 777 (qemu-system-x86, guest web-1)", "/dev/vfio/10"]
    ) {
        gpuSnapshot { f, h in
            h.deviceHolders = [
                DeviceHolder(
                    address: f.address, pid: 777, process: "qemu-system-x86", node: "/dev/vfio/10",
                    kind: "vfio-group", guest: "web-1")
            ]
        }
    },
    .init(code: "usage-unknown", severity: .risk, state: .ready, mentions: ["3 processes could not be read"]) {
        gpuSnapshot { _, h in h.unreadableProcesses = 3 }
    },
    .init(code: "function-unresponsive", severity: .blocker, state: .notReady, mentions: ["reads all ones", "10de:1eb8"]) {
        gpuSnapshot { f, _ in
            f.unresponsive = true
            f.configSpace = ConfigSpaceAccess(readableBytes: 0, source: .sysfs)
            f.capabilities = nil
        }
    },
    .init(code: "link-degraded", severity: .risk, state: .ready, mentions: ["x4 of x16"]) {
        gpuSnapshot { f, _ in
            var l = LinkFacts(source: "config")
            l.currentSpeed = "16GT/s"; l.maxSpeed = "16GT/s"; l.currentWidth = 4; l.maxWidth = 16
            f.link = l
        }
    },
    .init(code: "offered-as-vfs", severity: .blocker, state: .notReady, mentions: ["2 SR-IOV VFs enabled", "sriov_numvfs"]) {
        gpuSnapshot(
            { f, _ in
                f.classCode = ClassCode(value: 0x020000)
                f.gpu = nil
                f.driver = "mlx5_core"
                f.sriov = SRIOVState(totalVFs: 8, numVFs: 2, virtualFunctions: [F.addr("0000:3b:00.2"), F.addr("0000:3b:00.3")])
            },
            extra: ["0000:3b:00.2", "0000:3b:00.3"].enumerated().map { i, a in
                var vf = F.function(a, "15b3", "101e", class: 0x020000, group: 11 + i)
                vf.physicalFunction = F.addr(gpu)
                return vf
            })
    },
    .init(code: "vgpu-full", severity: .blocker, state: .notReady, mentions: ["can create no more instances"]) {
        gpuSnapshot { f, _ in
            f.driver = "nvidia"
            f.mdevTypes = [
                MdevType(
                    id: "nvidia-223", name: "GRID T4-16Q", description: "framebuffer=16384M, max_instance=1",
                    availableInstances: 0, instances: 1)
            ]
        }
    },
]

/// A PF whose VFs carry NVIDIA's vGPU files: the VF is a slot, never offered itself.
let vgpuSlotCase = ReadinessCase(code: "vgpu-slot", severity: .blocker, state: .notReady, mentions: ["vGPU slot of 0000:3b:00.0"]) {
    gpuSnapshot(
        { f, _ in
            f.driver = "nvidia"
            f.sriov = SRIOVState(totalVFs: 16, numVFs: 1, virtualFunctions: [F.addr("0000:3b:00.4")])
        },
        extra: [
            {
                var vf = F.function("0000:3b:00.4", "10de", "1eb8", class: 0x030200, driver: "nvidia", group: 12)
                vf.physicalFunction = F.addr(gpu)
                vf.gpu?.creatableVGPUTypes = [VGPUType(id: "1155", name: "NVIDIA L40S-8Q")]
                vf.gpu?.currentVGPUType = "0"
                return vf
            }()
        ])
}

@Suite("Agent readiness")
struct AgentReadinessTests {
    @Test("every reason code", arguments: readinessCases)
    func reason(_ c: ReadinessCase) throws {
        let set = F.descriptors(c.build())
        let d = try #require(set.descriptor(at: F.addr(gpu)))
        let r = try #require(d.readiness.reasons.first { $0.code == c.code }, "reasons: \(d.readiness.reasons.map(\.code))")
        #expect(r.severity == c.severity)
        #expect(d.readiness.state == c.state)
        for m in c.mentions {
            #expect(r.message.contains(m) || d.readiness.remediation.joined(separator: "\n").contains(m), "\(m) not in \(r.message)")
        }
    }

    @Test("a vGPU card's VF is a slot: never offered itself; the card offers the profile")
    func vgpuSlot() throws {
        let set = F.descriptors(vgpuSlotCase.build())
        let vf = try #require(set.descriptor(at: F.addr("0000:3b:00.4")))
        #expect(vf.mode == .vgpuVF)
        #expect(vf.parent == F.addr(gpu))
        #expect(vf.excludes == [F.addr(gpu)])
        let r = try #require(vf.readiness.reasons.first { $0.code == "vgpu-slot" })
        #expect(r.message.contains("vGPU slot of 0000:3b:00.0"))
        #expect(vf.readiness.state == .notReady)
        let card = try #require(set.descriptor(at: F.addr(gpu)))
        #expect(card.mode == .vgpu)
        #expect(card.excludes == [F.addr("0000:3b:00.4")])
        #expect(card.readiness.state == .ready, "\(card.readiness.reasons)")
        // Never told to bind the vendor-driver parent to vfio-pci.
        #expect(!card.readiness.reasons.contains { $0.code == "not-bound-to-vfio" })
        #expect(card.readiness.remediation.isEmpty)
        let p = try #require(card.vgpu?.profile(named: "NVIDIA L40S-8Q"))
        #expect(p.available == 1)
    }

    @Test("the reason table covers every documented code")
    func allCodesCovered() {
        let documented = Set(ReasonCode.allCases.map(\.rawValue))
        #expect(Set((readinessCases + [vgpuSlotCase]).map(\.code)) == documented)
    }

    /// The reason table in docs/labels-readiness-check.md: `| `code` | severity | meaning |` rows.
    static func documentedReasons() throws -> [String: String] {
        let path = ProbeTestSupport.packageRoot + "/docs/labels-readiness-check.md"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var rows: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[0].hasPrefix("`"), cells[0].hasSuffix("`") else { continue }
            let severity = String(cells[1].prefix { $0.isLetter })
            guard ["blocker", "binding", "risk", "info"].contains(severity) else { continue }
            rows[String(cells[0].dropFirst().dropLast())] = severity
        }
        return rows
    }

    @Test("docs/labels-readiness-check.md lists every reason code, with the severity it is given, and no other")
    func everyCodeDocumented() throws {
        let documented = try Self.documentedReasons()
        let cases = readinessCases + [vgpuSlotCase]
        for code in ReasonCode.allCases {
            let severity = try #require(documented[code.rawValue], "\(code.rawValue) is not in the docs' reason table")
            if let c = cases.first(where: { $0.code == code.rawValue }) {
                #expect(severity == c.severity.rawValue, "\(code.rawValue): docs say \(severity)")
            }
        }
        #expect(Set(documented.keys) == Set(ReasonCode.allCases.map(\.rawValue)))
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
        let snap = gpuSnapshot(
            { f, _ in
                f.driver = "nouveau"
                f.gpu?.companions = [Companion(address: F.addr("0000:3b:00.1"), role: "audio", classCode: "040300")]
            },
            extra: [
                F.function("0000:3b:00.1", "10de", "10fa", class: 0x040300, driver: "snd_hda_intel", group: 10),
                F.function("0000:3c:00.0", "8086", "1533", class: 0x020000, driver: "igb", group: 10),
            ])
        let d = try #require(F.descriptors(snap).descriptor(at: F.addr(gpu)))
        #expect(d.readiness.state == .readyAfterBinding)
        #expect(
            d.readiness.remediation == [
                "modprobe vfio-pci",
                "driverctl set-override 0000:3b:00.0 vfio-pci",
                "driverctl set-override 0000:3b:00.1 vfio-pci",
                "driverctl set-override 0000:3c:00.0 vfio-pci",
            ])
        // The companion travels with the GPU: no descriptor of its own.
        #expect(F.descriptors(snap).descriptor(at: F.addr("0000:3b:00.1")) == nil)
    }

    @Test("bridges in the group do not count; pci-stub and unbound members keep it viable")
    func bridgesDoNotCount() throws {
        var bridge = F.function("0000:3a:00.0", "8086", "2030", class: 0x060400, driver: "pcieport", group: 10)
        bridge.headerType = 1
        let snap = gpuSnapshot(
            { _, _ in },
            extra: [
                bridge,
                F.function("0000:3b:00.4", "10de", "0001", class: 0x020000, driver: "pci-stub", group: 10),
                F.function("0000:3b:00.5", "10de", "0002", class: 0x020000, driver: nil, group: 10),
            ])
        let set = F.descriptors(snap)
        let d = try #require(set.descriptor(at: F.addr(gpu)))
        #expect(!d.readiness.reasons.contains { $0.code == "group-not-viable" })
        #expect(set.descriptor(at: F.addr("0000:3a:00.0")) == nil, "a bridge is never a descriptor")
    }
}
