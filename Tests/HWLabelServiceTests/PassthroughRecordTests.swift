import Foundation
import Glibc
import HWLabelCore
import HWLabelProbe
import HWLabelTestSupport
import Testing

@testable import HWLabelService

/// passthrough.conf end to end over kernel-shaped trees: `enable` records, `apply` after a
/// reboot binds again with the exact writes, a card swapped into the slot is never written to,
/// a card with a serial number is followed to its new slot, `disable` restores the recorded
/// driver. Writes go to `PassthroughKernelDouble` only; the CLI runs here are dry runs over
/// trees (`--sysfs-root` refuses anything else).
@Suite("Passthrough records: enable records, apply re-binds after identity checks, drift, disable restores")
struct PassthroughRecordTests {
    typealias X = PassthroughExecutorTests
    static func a(_ s: String) -> PCIAddress { PCIAddress(s)! }

    /// A config directory for one test.
    final class ConfigDir {
        let path: String
        init() throws { path = try ProbeTestSupport.makeTemp("ptconf") }
        deinit { ProbeTestSupport.removeTemp(path) }
        var store: PassthroughStore { PassthroughStore(directory: path, lockTimeout: 0.3) }
        var file: String { path + "/passthrough.conf" }
        func text() throws -> String { try String(contentsOfFile: file, encoding: .utf8) }
    }

    static func enable(_ t: TreeBuilder, _ targets: [PassthroughTarget], _ conf: ConfigDir) throws -> (
        PassthroughKernelDouble, PassthroughRunner.RecordChange
    ) {
        let k = PassthroughKernelDouble(tree: t)
        let (report, change) = try PassthroughRunner.run(
            .enable, targets: targets, planner: try X.planner(t), dryRun: false, executor: X.executor(k), store: conf.store)
        guard case .ran(_, let r) = report, r.succeeded else { throw ProbeTestSupport.SupportError("enable: \(report)") }
        return (k, change)
    }

    static func apply(
        _ t: TreeBuilder, _ conf: ConfigDir, _ addresses: [String] = [], dryRun: Bool = false, scans: UnsafeMutablePointer<Int>? = nil
    ) throws -> (PassthroughKernelDouble, PassthroughApply.Report) {
        let k = PassthroughKernelDouble(tree: t)
        let report = try PassthroughApply.run(
            records: try conf.store.load().records, addresses: addresses.map(Self.a), sysRoot: t.sysRoot, dryRun: dryRun,
            executor: X.executor(k)
        ) {
            scans?.pointee += 1
            return try X.planner(t)
        }
        return (k, report)
    }

    /// Puts another card in `address`'s place: new IDs in its attribute files and `uevent`
    /// (the driver line kept), as the kernel would show an A10 in the RTX 8000's slot.
    static func swapCard(_ t: TreeBuilder, _ address: String, device: String, subsystem: (String, String), classCode: String) throws {
        let uevent = try String(contentsOfFile: t.dir(address) + "/uevent", encoding: .utf8)
        let driverLine = uevent.split(separator: "\n").first { $0.hasPrefix("DRIVER=") }.map { $0 + "\n" } ?? ""
        try t.attr(address, "device", "0x\(device)\n")
        try t.attr(address, "subsystem_vendor", "0x\(subsystem.0)\n")
        try t.attr(address, "subsystem_device", "0x\(subsystem.1)\n")
        try t.attr(address, "class", "0x\(classCode)\n")
        try t.attr(
            address, "uevent",
            driverLine
                + TreeBuilder.ueventBody(
                    address: address, vendor: "10de", device: device, classCode: classCode, subsystemVendor: subsystem.0,
                    subsystemDevice: subsystem.1))
    }

    static func hwlabel(_ args: [String]) throws -> ProbeTestSupport.Result {
        try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(), args)
    }

    // MARK: - Store

    @Test("the store writes atomically under its lock; a second writer waits, then is named by pid")
    func storeLocked() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        _ = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        let written = try conf.text()
        #expect(written == (try conf.store.load()).serialized())
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: conf.path).filter { $0.contains(".tmp.") }
        #expect(leftovers.isEmpty)
        let lock = ConfigLock(path: conf.store.lockPath, timeout: 1, command: "hwlabel passthrough")
        try lock.withLock {
            do {
                try conf.store.update { $0.remove(keys: ["slot:6"]) }
                Issue.record("updated while another holder had the lock")
            } catch let e as ConfigError {
                #expect(e.description.hasPrefix(conf.store.lockPath + ": locked by process \(getpid())"), "\(e)")
                #expect(e.description.contains("hwlabel passthrough"))
            }
        }
        #expect(try conf.text() == written)
    }

    @Test("a corrupt passthrough.conf is never rewritten: enable refuses before any write, the file stays byte-identical")
    func corruptUntouched() throws {
        let conf = try ConfigDir()
        let bad = "# mine\ndevice slot:6 vendor=10de device=1e30 class=030000 address=0000:cb:00.0\n"
        try bad.write(toFile: conf.file, atomically: false, encoding: .utf8)
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        #expect(throws: ConfigError.self) {
            _ = try PassthroughRunner.run(
                .enable, targets: [.address(Self.a(h.rtx8000))], planner: try X.planner(t), dryRun: false, executor: X.executor(k),
                store: conf.store)
        }
        #expect(k.log.isEmpty)
        #expect(throws: ConfigError.self) { try conf.store.update { $0.remove(keys: ["slot:6"]) } }
        #expect(try conf.text() == bad)
        let (records, warning) = conf.store.recordedInstances()
        #expect(records.isEmpty && warning?.hasPrefix(conf.file + ":2: a device needs driver=") == true, "\(warning ?? "")")
        // The agent's scan goes on without the records, and says why.
        final class Warnings: @unchecked Sendable {
            let lock = NSLock()
            var list: [String] = []
            func add(_ w: String) { lock.withLock { list.append(w) } }
        }
        let seen = Warnings()
        let scan = try DescriptorSources.probe(sysfsRoot: t.sysRoot, configDirectory: conf.path) { seen.add($0) }()
        #expect(!scan.descriptors.isEmpty)
        #expect(seen.list.count == 1 && seen.list[0].hasPrefix(conf.file + ":2: "), "\(seen.list)")
        let inv = try Self.hwlabel(["inventory", "--sysfs-root", t.sysRoot, "--config-dir", conf.path])
        #expect(inv.status == 0 && inv.stderr.contains("hwlabel: warning: \(conf.file):2: "), "\(inv.status) \(inv.stderr)")
        #expect(try conf.text() == bad)
    }

    // MARK: - enable → reboot → apply

    @Test(
        "enable records the target (not its companions as records) with its previous drivers; apply after a reboot binds it again, write for write"
    )
    func enableThenApplyAfterReboot() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let group = [h.rtx8000] + h.rtx8000Companions
        let (_, change) = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        #expect(change.recorded == ["slot:6"] && change.error == nil)
        let r = try #require(try conf.store.load().record(key: "slot:6"))
        #expect(r.address == Self.a(h.rtx8000) && r.previousDriver == "nvidia" && r.driver == "vfio-pci")
        #expect(r.identity.fields == "vendor=10de device=1e30 subsystem=10de:129e class=030000")
        #expect(r.members.map(\.address.description) == h.rtx8000Companions)
        #expect(r.members.map(\.role) == [.companion, .companion, .companion])
        #expect(r.members.map(\.previousDriver) == ["snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(try conf.text().contains("# hwlabel passthrough records"))

        // After the reboot: the same host, every function back on its native driver.
        let (boot, _) = try HostTrees.vgpuHost()
        defer { boot.cleanup() }
        let (k, report) = try Self.apply(boot, conf, [h.rtx8000])
        #expect(report.succeeded && report.scanned)
        #expect(
            k.log == X.enableWrites(group[0], from: "nvidia") + X.enableWrites(group[1], from: "snd_hda_intel")
                + X.enableWrites(group[2], from: "xhci_hcd") + X.enableWrites(group[3], from: "nvidia-gpu"))
        #expect(X.drivers(boot, group) == Array(repeating: "vfio-pci", count: 4))

        // Applied again (udev's add for a companion): already bound, nothing written.
        let (again, second) = try Self.apply(boot, conf, [group[1]])
        #expect(second.succeeded && second.entries.count == 1)
        #expect(again.log.isEmpty)
    }

    @Test("apply for an address no record can concern: no scan and no write; without passthrough.conf the CLI exits 0 at once")
    func applyUnrelatedAddress() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        _ = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        var scans = 0
        let (k, report) = try Self.apply(t, conf, [h.isaBridge], scans: &scans)
        #expect(scans == 0 && !report.scanned && report.entries.isEmpty && report.succeeded)
        #expect(k.log.isEmpty)
        // A record's own address, or its IDs at another address, does scan.
        #expect(PassthroughApply.mayConcern([Self.a(h.rtx8000)], records: try conf.store.load().records, sysRoot: "/nonexistent"))
        #expect(!PassthroughApply.mayConcern([Self.a(h.isaBridge)], records: try conf.store.load().records, sysRoot: t.sysRoot))

        // The binary: a sysfs root that does not exist would fail any scan (exit 3); with no
        // record for the address it is never scanned.
        let quick = try Self.hwlabel(
            ["passthrough", "apply", "--dry-run", "--sysfs-root", "/nonexistent-hwlabel-root", "--config-dir", conf.path, h.isaBridge])
        #expect(quick.status == 0 && quick.stdout.isEmpty && quick.stderr.isEmpty, "\(quick.status) \(quick.stderr)")
        let empty = try ConfigDir()
        let none = try Self.hwlabel(
            ["passthrough", "apply", "--dry-run", "--sysfs-root", "/nonexistent-hwlabel-root", "--config-dir", empty.path, h.rtx8000])
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderr.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: empty.file))
        // Never a real write from a tree.
        let refused = try Self.hwlabel(["passthrough", "apply", "--sysfs-root", t.sysRoot, "--config-dir", conf.path])
        #expect(refused.status == 64 || refused.status == 2, "\(refused.status) \(refused.stderr)")
    }

    @Test("a device enabled with --whole-group: apply names its recorded group members, so none is refused as unnamed")
    func wholeGroupMembersNamed() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let group = [h.rtx8000] + h.rtx8000Companions
        let audio = group[1]
        let k = PassthroughKernelDouble(tree: t)
        let (report, change) = try PassthroughRunner.run(
            .enable, targets: [.address(Self.a(audio))], planner: try X.planner(t), options: .init(wholeGroup: true), dryRun: false,
            executor: X.executor(k), store: conf.store)
        guard case .ran(_, let r) = report, r.succeeded else { throw ProbeTestSupport.SupportError("\(report)") }
        #expect(change.recorded == ["slot:6.1"])
        let rec = try #require(try conf.store.load().record(key: "slot:6.1"))
        #expect(rec.members.first { $0.address == Self.a(h.rtx8000) }?.role == .groupMember)
        #expect(rec.members.first { $0.address == Self.a(h.rtx8000) }?.previousDriver == "nvidia")

        let (boot, _) = try HostTrees.vgpuHost()
        defer { boot.cleanup() }
        // Without the member named, the GPU would be refused as an unnamed group member.
        guard case .refused = try X.planner(boot).enable([.address(Self.a(audio))]) else {
            Issue.record("the audio function alone was not refused")
            return
        }
        let (k2, applied) = try Self.apply(boot, conf, [audio])
        #expect(applied.succeeded, "\(applied.entries.map(\.outcome))")
        #expect(
            k2.log == X.enableWrites(group[0], from: "nvidia") + X.enableWrites(group[1], from: "snd_hda_intel")
                + X.enableWrites(group[2], from: "xhci_hcd") + X.enableWrites(group[3], from: "nvidia-gpu"))
    }

    // MARK: - Drift

    @Test("a swapped card (new IDs in the same slot) is not bound — not one write — and apply, status and inventory report the drift")
    func swappedCardNotBound() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        _ = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        let (boot, _) = try HostTrees.vgpuHost()
        defer { boot.cleanup() }
        try Self.swapCard(boot, h.rtx8000, device: "2236", subsystem: ("10de", "1482"), classCode: "030200")

        for addresses in [[], [h.rtx8000]] {
            let (k, report) = try Self.apply(boot, conf, addresses)
            #expect(!report.succeeded)
            #expect(k.log.isEmpty, "no write at all for a card that is not the one recorded")
            let e = try #require(report.entries.first)
            guard case .drift(let d) = e.outcome else {
                Issue.record("\(e.outcome)")
                continue
            }
            #expect(d.key == "slot:6" && d.present.device == "2236" && d.recorded.device == "1e30")
        }
        #expect(X.drivers(boot, [h.rtx8000]) == ["nvidia"])

        // The agent's scan and the CLI's descriptors carry it.
        let scan = try DescriptorSources.probe(sysfsRoot: boot.sysRoot, configDirectory: conf.path) { _ in }()
        let d = try #require(scan.descriptors.first { $0.address == Self.a(h.rtx8000) })
        #expect(d.drift.map(\.source) == [.passthrough])

        let apply = try Self.hwlabel(["passthrough", "apply", "--dry-run", "--sysfs-root", boot.sysRoot, "--config-dir", conf.path])
        #expect(apply.status == 1, "\(apply.stderr)")
        #expect(apply.stdout.contains("drift, not bound: slot:6: passthrough record was given to 10de:1e30"), "\(apply.stdout)")
        #expect(!apply.stdout.contains("would write"))
        #expect(apply.stderr.contains("hwlabel: error: slot:6: passthrough record"))

        let status = try Self.hwlabel([
            "passthrough", "status", "--format", "json", "--sysfs-root", boot.sysRoot, "--config-dir", conf.path,
        ])
        #expect(status.status == 0, "\(status.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: status.stdoutData) as? [String: Any])
        let rec = try #require((doc["records"] as? [[String: Any]])?.first)
        #expect(rec["key"] as? String == "slot:6" && rec["state"] as? String == "drift" && rec["address"] as? String == h.rtx8000)
        let table = try Self.hwlabel(["passthrough", "status", "--sysfs-root", boot.sysRoot, "--config-dir", conf.path])
        #expect(
            table.stdout.contains("slot:6  10de:1e30 subsystem 10de:129e class 030000  recorded at \(h.rtx8000)  drift"), "\(table.stdout)")

        let inv = try Self.hwlabel(["inventory", "--format", "json", "--sysfs-root", boot.sysRoot, "--config-dir", conf.path])
        #expect(inv.status == 0, "\(inv.stderr)")
        #expect(inv.stderr.contains("\(h.rtx8000): slot:6: passthrough record was given to"), "\(inv.stderr)")
        let invDoc = try #require(try JSONSerialization.jsonObject(with: inv.stdoutData) as? [String: Any])
        let gpu = try #require((invDoc["descriptors"] as? [[String: Any]])?.first { $0["address"] as? String == h.rtx8000 })
        #expect((gpu["drift"] as? [[String: Any]])?.first?["source"] as? String == "passthrough")
        let show = try Self.hwlabel(["show", h.rtx8000, "--sysfs-root", boot.sysRoot, "--config-dir", conf.path])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stderr.contains("\(h.rtx8000): slot:6: passthrough record was given to"), "\(show.stderr)")
    }

    @Test("a card with a serial number moved to another slot is found there and bound at its new address")
    func movedCardFollowed() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.hgxH100(.init(hostGPUs: [0, 1]))
        defer { t.cleanup() }
        let (_, change) = try Self.enable(t, [.address(Self.a(h.gpus[0]))], conf)
        let key = try #require(change.recorded.first)
        #expect(key.hasPrefix("dsn:"))
        // After the reboot the card sits where gpus[1] was, and that card where it was.
        let (boot, _) = try HostTrees.hgxH100(.init(hostGPUs: [0, 1]))
        defer { boot.cleanup() }
        let c0 = try Data(contentsOf: URL(fileURLWithPath: boot.dir(h.gpus[0]) + "/config"))
        let c1 = try Data(contentsOf: URL(fileURLWithPath: boot.dir(h.gpus[1]) + "/config"))
        try c1.write(to: URL(fileURLWithPath: boot.dir(h.gpus[0]) + "/config"))
        try c0.write(to: URL(fileURLWithPath: boot.dir(h.gpus[1]) + "/config"))

        let (k, report) = try Self.apply(boot, conf)
        #expect(report.succeeded)
        #expect(report.entries.map(\.address) == [Self.a(h.gpus[1])])
        #expect(k.log == X.enableWrites(h.gpus[1], from: "nvidia"))
        #expect(X.drivers(boot, [h.gpus[0], h.gpus[1]]) == ["nvidia", "vfio-pci"])
        // udev's add for the old address finds nothing recorded there now.
        let (k0, r0) = try Self.apply(boot, conf, [h.gpus[0]])
        #expect(r0.entries.isEmpty && k0.log.isEmpty)
    }

    // MARK: - disable

    @Test("disable gives the device back to the recorded previous driver and removes the record; without a record the native driver probes")
    func disableRestores() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let group = [h.rtx8000] + h.rtx8000Companions
        let (k, _) = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        let before = k.log.count
        let (report, change) = try PassthroughRunner.run(
            .disable, targets: [.instance("slot:6")], planner: try X.planner(t), dryRun: false, executor: X.executor(k), store: conf.store)
        guard case .ran(_, let r) = report else { throw ProbeTestSupport.SupportError("\(report)") }
        #expect(r.succeeded)
        #expect(
            Array(k.log.dropFirst(before))
                == group.flatMap { a in [X.override(a, "\n"), X.unbind("vfio-pci", a)] + [X.bind(k.native[a]!, a)] })
        #expect(X.drivers(t, group) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
        #expect(change.removed == ["slot:6"])
        #expect(try conf.store.load().records.isEmpty)
        #expect(try conf.text().hasPrefix("# hwlabel passthrough records"))

        // With no record, the override is cleared and the kernel probes the native driver.
        _ = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        try conf.store.update { $0.remove(keys: ["slot:6"]) }
        let mark = k.log.count
        let (plain, _) = try PassthroughRunner.run(
            .disable, targets: [.address(Self.a(h.rtx8000))], planner: try X.planner(t), dryRun: false, executor: X.executor(k),
            store: conf.store)
        guard case .ran(_, let r2) = plain else { throw ProbeTestSupport.SupportError("\(plain)") }
        #expect(r2.succeeded)
        #expect(
            Array(k.log.dropFirst(mark)) == group.flatMap { a in [X.override(a, "\n"), X.unbind("vfio-pci", a), X.probe(a)] })
        #expect(X.drivers(t, group) == ["nvidia", "snd_hda_intel", "xhci_hcd", "nvidia-gpu"])
    }

    @Test("disable of a recorded device that is gone only drops its record")
    func disableAbsent() throws {
        let conf = try ConfigDir()
        try """
        device dsn:aa-bb-cc-dd-ee-ff-00-11 vendor=10de device=2330 class=030200 address=0000:1b:00.0 previous=nvidia driver=vfio-pci

        """.write(toFile: conf.file, atomically: false, encoding: .utf8)
        let (t, _) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        let k = PassthroughKernelDouble(tree: t)
        let (report, change) = try PassthroughRunner.run(
            .disable, targets: [.instance("dsn:aa-bb-cc-dd-ee-ff-00-11")], planner: try X.planner(t), dryRun: false,
            executor: X.executor(k), store: conf.store)
        guard case .ran(_, let r) = report else { throw ProbeTestSupport.SupportError("\(report)") }
        #expect(r.succeeded && k.log.isEmpty)
        #expect(change.removed == ["dsn:aa-bb-cc-dd-ee-ff-00-11"])
        #expect(try conf.store.load().records.isEmpty)
    }

    @Test("the CLI's dry-run apply over a rebooted tree shows the writes, and status says the device is not bound")
    func cliDryRunApply() throws {
        let conf = try ConfigDir()
        let (t, h) = try HostTrees.vgpuHost()
        defer { t.cleanup() }
        _ = try Self.enable(t, [.address(Self.a(h.rtx8000))], conf)
        let (boot, _) = try HostTrees.vgpuHost()
        defer { boot.cleanup() }
        let status = try Self.hwlabel(["passthrough", "status", "--sysfs-root", boot.sysRoot, "--config-dir", conf.path])
        #expect(
            status.stdout.contains(
                "slot:6  10de:1e30 subsystem 10de:129e class 030000  recorded at \(h.rtx8000)  at \(h.rtx8000), not bound (on nvidia); `hwlabel passthrough apply` would bind it"
            ),
            "\(status.stdout)")
        let r = try Self.hwlabel(["passthrough", "apply", "--dry-run", "--sysfs-root", boot.sysRoot, "--config-dir", conf.path, h.rtx8000])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("echo vfio-pci > /sys/bus/pci/devices/\(h.rtx8000)/driver_override"), "\(r.stdout)")
        #expect(r.stdout.contains("echo \(h.rtx8000) > /sys/bus/pci/drivers/nvidia/unbind"))
        #expect(X.drivers(boot, [h.rtx8000]) == ["nvidia"])
        let bound = try Self.hwlabel(["passthrough", "status", "--format", "json", "--sysfs-root", t.sysRoot, "--config-dir", conf.path])
        let doc = try #require(try JSONSerialization.jsonObject(with: bound.stdoutData) as? [String: Any])
        #expect((doc["records"] as? [[String: Any]])?.first?["state"] as? String == "bound")
    }
}
