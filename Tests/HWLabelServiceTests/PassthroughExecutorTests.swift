import Foundation
import Glibc
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// The write path over kernel-shaped trees through `PassthroughKernelDouble`: the exact writes,
/// in order, and the rollback when a function fails. No test here writes outside a temp tree;
/// the live-host test is a dry run through a host that fails the test on any write.
@Suite("Passthrough: the write path, its failures and the rollback")
struct PassthroughExecutorTests {
    static func a(_ s: String) -> PCIAddress { PCIAddress(s)! }

    static func planner(_ t: TreeBuilder, aliases: VFIOModuleAliases = .none) throws -> PassthroughPlanner {
        var s = try Probe().snapshot(.sysfs(root: t.sysRoot))
        s.host?.deviceHolders = []
        s.host?.unreadableProcesses = 0
        let set = DescriptorBuilder().descriptors(snapshot: s, labels: LabelSet(), policy: .default)
        return PassthroughPlanner(snapshot: s, descriptors: set, aliases: aliases)
    }

    static func plan(_ p: PassthroughPlanner, _ targets: [PassthroughTarget], disable previous: [PCIAddress: String]? = nil) throws
        -> PassthroughPlan
    {
        let d = previous.map { p.disable(targets, previous: $0) } ?? p.enable(targets)
        guard case .plan(let plan) = d else { throw ProbeTestSupport.SupportError("refused: \(d)") }
        return plan
    }

    static func executor(_ k: PassthroughKernelDouble, timeout: Double = 10) -> PassthroughExecutor {
        PassthroughExecutor(host: k, clock: k.clock, sleep: k.sleep, timeout: timeout, pollInterval: 0.5)
    }

    static func override(_ a: String, _ v: String) -> PassthroughOperation {
        .write(attribute: "bus/pci/devices/\(a)/driver_override", value: v)
    }
    static func unbind(_ d: String, _ a: String) -> PassthroughOperation {
        .write(attribute: "bus/pci/drivers/\(d)/unbind", value: a + "\n")
    }
    static func bind(_ d: String, _ a: String) -> PassthroughOperation { .write(attribute: "bus/pci/drivers/\(d)/bind", value: a + "\n") }
    static func probe(_ a: String) -> PassthroughOperation { .write(attribute: "bus/pci/drivers_probe", value: a + "\n") }

    static func enableWrites(_ a: String, from d: String, to v: String = "vfio-pci") -> [PassthroughOperation] {
        [override(a, v + "\n"), unbind(d, a), probe(a)]
    }

    static func drivers(_ t: TreeBuilder, _ addresses: [String]) -> [String?] {
        addresses.map { PassthroughKernelDouble.readDriver(t.sysRoot, $0) }
    }

    @Test("a GPU and its companions: override, unbind, drivers_probe for each, then all on vfio-pci; never new_id")
    func enableGroup() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        let plan = try Self.plan(Self.planner(t), [.address(Self.a(h.rtx8000))])
        let r = Self.executor(k).run(plan)
        let group = [h.rtx8000] + h.rtx8000Companions
        #expect(r.succeeded)
        #expect(
            k.log == Self.enableWrites(group[0], from: "nvidia") + Self.enableWrites(group[1], from: "snd_hda_intel")
                + Self.enableWrites(group[2], from: "xhci_hcd") + Self.enableWrites(group[3], from: "nvidia-gpu"))
        #expect(r.functions.map(\.outcome) == Array(repeating: .done(driver: "vfio-pci"), count: 4))
        #expect(Self.drivers(t, group) == Array(repeating: "vfio-pci", count: 4))
        #expect(try String(contentsOfFile: t.dir(group[0]) + "/driver_override", encoding: .utf8) == "vfio-pci\n")
        #expect(!k.log.contains { $0.description.contains("new_id") })
    }

    @Test("the variant driver's module is loaded first when its driver is not registered")
    func loadsModule() throws {
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        var w: [ProbeWarning] = []
        let aliases = VFIOModuleAliases.parse(
            "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\nalias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n",
            path: "modules.alias", warnings: &w)
        let vf = h.netVFs[0]
        let r = Self.executor(k).run(try Self.plan(Self.planner(t, aliases: aliases), [.address(Self.a(vf))]))
        #expect(r.succeeded)
        #expect(k.log == [.loadModule("mlx5_vfio_pci")] + Self.enableWrites(vf, from: "mlx5_core", to: "mlx5_vfio_pci"))
        #expect(Self.drivers(t, [vf]) == ["mlx5_vfio_pci"])
    }

    @Test("EBUSY on the third unbind: the two done are put back on their drivers, the fourth never touched")
    func ebusyRollsBack() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        let group = [h.rtx8000] + h.rtx8000Companions
        k.busyUnbind = [group[2]]
        let r = Self.executor(k).run(try Self.plan(Self.planner(t), [.address(Self.a(h.rtx8000))]))
        #expect(!r.succeeded)
        let forward =
            Self.enableWrites(group[0], from: "nvidia") + Self.enableWrites(group[1], from: "snd_hda_intel")
            + [Self.override(group[2], "vfio-pci\n"), Self.unbind("xhci_hcd", group[2])]
        let back: [PassthroughOperation] = [
            Self.override(group[2], "\n"),
            Self.override(group[1], "\n"), Self.unbind("vfio-pci", group[1]), Self.bind("snd_hda_intel", group[1]),
            Self.override(group[0], "\n"), Self.unbind("vfio-pci", group[0]), Self.bind("nvidia", group[0]),
        ]
        #expect(k.log == forward + back)
        #expect(Self.drivers(t, group) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(r.functions[0].outcome == .rolledBack(driver: "nvidia"))
        #expect(r.functions[1].outcome == .rolledBack(driver: "snd_hda_intel"))
        guard case .failed(let why, rolledBack: true) = r.functions[2].outcome else {
            Issue.record("third function: \(r.functions[2].outcome)")
            return
        }
        #expect(why.contains("unbind") && why.contains("errno \(EBUSY)"))
        #expect(r.functions[3].outcome == .untouched)
    }

    @Test("a driver that does not bind: the driver link stays empty, the wait times out, the GPU goes back")
    func driverDoesNotBind() throws {
        let (t, h) = try HostTrees.hgxH100()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        k.failingDrivers = ["vfio-pci"]
        let gpu = h.gpus[0]
        let r = Self.executor(k).run(try Self.plan(Self.planner(t), [.address(Self.a(gpu))]))
        #expect(!r.succeeded)
        #expect(k.log == Self.enableWrites(gpu, from: "nvidia") + [Self.override(gpu, "\n"), Self.bind("nvidia", gpu)])
        #expect(k.now >= 10, "waited the whole timeout on the injected clock")
        guard case .failed(let why, rolledBack: true) = r.functions[0].outcome else {
            Issue.record("\(r.functions[0].outcome)")
            return
        }
        #expect(why == "bind \(gpu) to vfio-pci: the driver link names no driver after 10 s")
        #expect(Self.drivers(t, [gpu]) == ["nvidia"])
    }

    @Test("a bind slower than the timeout fails and is rolled back; one within it succeeds")
    func slowBind() throws {
        let (t, h) = try HostTrees.hgxH100(.init(hostGPUs: [0, 1]))
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        k.bindDelay = [h.gpus[0]: 30, h.gpus[1]: 2]
        let slow = Self.executor(k).run(try Self.plan(Self.planner(t), [.address(Self.a(h.gpus[0]))]))
        #expect(!slow.succeeded && Self.drivers(t, [h.gpus[0]]) == ["nvidia"])
        let start = k.now
        let quick = Self.executor(k).run(try Self.plan(Self.planner(t), [.address(Self.a(h.gpus[1]))]))
        #expect(quick.succeeded && Self.drivers(t, [h.gpus[1]]) == ["vfio-pci"])
        #expect(k.now - start >= 2 && k.now - start < 10)
    }

    @Test("disable: override cleared, unbound from vfio-pci, back to the recorded driver or the native probe")
    func disable() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        let group = [h.rtx8000] + h.rtx8000Companions
        #expect(Self.executor(k).run(try Self.plan(Self.planner(t), [.address(Self.a(h.rtx8000))])).succeeded)
        let before = k.log.count
        let plan = try Self.plan(Self.planner(t), [.address(Self.a(h.rtx8000))], disable: [Self.a(h.rtx8000): "nvidia"])
        let r = Self.executor(k).run(plan)
        #expect(r.succeeded)
        #expect(
            Array(k.log.dropFirst(before)) == [
                Self.override(group[0], "\n"), Self.unbind("vfio-pci", group[0]), Self.bind("nvidia", group[0]),
            ]
                + group.dropFirst().flatMap { [Self.override($0, "\n"), Self.unbind("vfio-pci", $0), Self.probe($0)] })
        #expect(Self.drivers(t, group) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(try String(contentsOfFile: t.dir(group[0]) + "/driver_override", encoding: .utf8) == "(null)\n")
    }

    @Test("dry run: the operations a run would write, and nothing written")
    func dryRun() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        let report = PassthroughRunner.run(
            .enable, targets: [.address(Self.a(h.rtx8000))], planner: try Self.planner(t),
            dryRun: true, executor: Self.executor(k))
        guard case .dryRun(_, let ops) = report else {
            Issue.record("\(report)")
            return
        }
        #expect(ops.count == 12 && ops.first == Self.override(h.rtx8000, "vfio-pci\n"))
        #expect(ops[1].description == "echo \(h.rtx8000) > /sys/bus/pci/drivers/nvidia/unbind")
        #expect(k.log.isEmpty)
        #expect(Self.drivers(t, [h.rtx8000]) == ["nvidia"])
    }

    @Test("the real seam over a temp tree: writes an existing attribute, never creates one, reads the driver link")
    func sysfsHost() throws {
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        try t.attr(h.rtx8000, "driver_override", "(null)\n")
        let host = SysfsPassthroughHost(sysRoot: t.sysRoot)
        try host.write("bus/pci/devices/\(h.rtx8000)/driver_override", "vfio-pci\n")
        #expect(try String(contentsOfFile: t.dir(h.rtx8000) + "/driver_override", encoding: .utf8) == "vfio-pci\n")
        #expect(throws: PassthroughHostError.self) { try host.write("bus/pci/drivers/vfio-pci/new_id", "10de 1e30") }
        #expect(!FileManager.default.fileExists(atPath: t.sysRoot + "/bus/pci/drivers/vfio-pci/new_id"))
        #expect(host.driver(of: Self.a(h.rtx8000)) == "nvidia")
        #expect(host.hasDriver("vfio-pci") && !host.hasDriver("mlx5_vfio_pci"))
    }

    /// Reads this machine's /sys; any write or module load fails the test.
    final class NoWritesHost: PassthroughHost, @unchecked Sendable {
        let reader = SysfsPassthroughHost(sysRoot: "/sys")
        func write(_ attribute: String, _ value: String) throws(PassthroughHostError) {
            Issue.record("wrote \(value.debugDescription) to /sys/\(attribute)")
            throw PassthroughHostError(operation: "write", errno: EPERM)
        }
        func loadModule(_ module: String) throws(PassthroughHostError) {
            Issue.record("loaded \(module)")
            throw PassthroughHostError(operation: "modprobe", errno: EPERM)
        }
        func driver(of address: PCIAddress) -> String? { reader.driver(of: address) }
        func hasDriver(_ driver: String) -> Bool { reader.hasDriver(driver) }
    }

    @Test("this host, dry run: the controller behind / is refused, and nothing is written")
    func liveRootController() throws {
        let s = try Probe().snapshot(.live())
        let root = try #require(s.host?.rootFilesystemDevices?.first, "this host's / is on a PCI function")
        let set = DescriptorBuilder().descriptors(snapshot: s, labels: LabelSet(), policy: .default)
        let planner = PassthroughPlanner(snapshot: s, descriptors: set)
        let host = NoWritesHost()
        for dry in [true, false] {
            let report = PassthroughRunner.run(
                .enable, targets: [.address(root)], planner: planner, dryRun: dry,
                executor: PassthroughExecutor(host: host))
            guard case .refused(let refusals) = report else {
                Issue.record("not refused: \(report)")
                return
            }
            #expect(refusals.contains { $0.kind == .hostInUse && $0.address == root && $0.holder.contains("root file system") })
        }
    }
}
