import Foundation
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

/// `InventoryDiff` over descriptors the real `DescriptorBuilder` makes from snapshots, and over
/// descriptors built field by field where a field (label, mode, usage, binding) is the point.
@Suite("Diff: inventories compared by instance id")
struct InventoryDiffTests {
    typealias F = DeviceFixtures

    static func input(
        _ functions: [PCIFunction], name: String = "doc", version: String = "1.1",
        labels: LabelSet = LabelSet()
    ) -> InventoryDiff.Input {
        let snap = F.snapshot(functions)
        return InventoryDiff.Input(
            name: name, schemaVersion: version, digest: nil,
            descriptors: F.descriptors(snap, labels).descriptors, functions: snap.functions)
    }

    static func input(_ descriptors: [AssignableDevice], functions: [PCIFunction] = [], version: String = "1.1") -> InventoryDiff.Input {
        InventoryDiff.Input(name: "doc", schemaVersion: version, digest: nil, descriptors: descriptors, functions: functions)
    }

    /// A GPU audio function: a companion (no descriptor of its own) of a GPU that lists it.
    static func audio(_ address: String, driver: String?, group: Int) -> PCIFunction {
        F.function(address, "10de", "10f7", class: 0x040300, driver: driver, group: group)
    }

    /// The RTX 8000 with its functions .1 … .3 listed as companions, as the probe lists them.
    static func rtx8000(companions: [(String, String)]) -> PCIFunction {
        var f = F.rtx8000
        f.gpu?.companions = companions.map { Companion(address: F.addr($0.0), role: $0.1, classCode: "040300") }
        return f
    }

    /// A PCIe root port: a bridge, never a descriptor.
    static func rootPort(_ address: String, driver: String?) -> PCIFunction {
        var f = F.function(address, "8086", "2030", class: 0x060400, driver: driver, group: 1)
        f.headerType = 1
        return f
    }

    static func at(_ f: PCIFunction, _ address: String) -> PCIFunction {
        var g = f
        g.address = F.addr(address)
        return g
    }

    @Test("the same host twice: identical, no entries, an empty table")
    func identical() throws {
        let fns = [
            F.t4, F.rtx6000, Self.rtx8000(companions: [("0000:af:00.1", "audio")]),
            Self.audio("0000:af:00.1", driver: "snd_hda_intel", group: 30), Self.rootPort("0000:00:01.0", driver: "pcieport"),
        ]
        let d = InventoryDiff(old: Self.input(fns), new: Self.input(fns))
        #expect(d.identical)
        #expect(d.added.isEmpty && d.removed.isEmpty && d.moved.isEmpty && d.changed.isEmpty)
        #expect(d.functions == InventoryDiff.Functions())
        #expect(d.table() == "")
        #expect(Self.input(fns).descriptors.count == 3)
    }

    @Test("a card with a serial number in another slot has moved, and keeps its identity")
    func movedBySerial() throws {
        let old = Self.input([F.t4, F.rtx6000])
        let new = Self.input([Self.at(F.t4, "0000:d8:00.0"), F.rtx6000])
        let d = InventoryDiff(old: old, new: new)
        #expect(!d.identical)
        #expect(
            d.moved == [
                InventoryDiff.Move(
                    instance: "dsn:11-22-33-44-55-66-77-01", from: F.addr("0000:3b:00.0"),
                    to: F.addr("0000:d8:00.0"))
            ])
        #expect(d.added.isEmpty && d.removed.isEmpty)
        #expect(d.changed.isEmpty, "\(d.changed)")
        #expect(d.table() == "moved  0000:d8:00.0  dsn:11-22-33-44-55-66-77-01  from 0000:3b:00.0\n")
    }

    @Test("a new instance id at the same address is a removal and an addition, never a move")
    func newSerialSameAddress() throws {
        var other = F.t4
        other.capabilities?.serialNumber = "11-22-33-44-55-66-77-99"
        let d = InventoryDiff(old: Self.input([F.t4]), new: Self.input([other]))
        #expect(d.removed.map(\.instance) == ["dsn:11-22-33-44-55-66-77-01"])
        #expect(d.added.map(\.instance) == ["dsn:11-22-33-44-55-66-77-99"])
        #expect(d.added.first?.address == F.addr("0000:3b:00.0"))
        #expect(d.moved.isEmpty && d.changed.isEmpty)
    }

    @Test("another card in a named slot: the same instance, its identity changed")
    func replacedInSlot() throws {
        let t4 = F.function("0000:3b:00.0", "10de", "1eb8", class: 0x030200, subsystem: ("10de", "12a2"), group: 10, slot: "3")
        let a10 = F.function("0000:3b:00.0", "10de", "2236", class: 0x030200, subsystem: ("10de", "1482"), group: 10, slot: "3")
        let d = InventoryDiff(old: Self.input([t4]), new: Self.input([a10]))
        let identity = try #require(d.changed.first { $0.field == .identity })
        #expect(identity.instance == "slot:3")
        #expect(identity.old == "10de:1eb8 subsystem 10de:12a2 class 030200")
        #expect(identity.new == "10de:2236 subsystem 10de:1482 class 030200")
        #expect(d.changed.first?.field == .identity, "identity is listed first")
    }

    @Test("a driver rebind is a driver change, and readiness follows it")
    func driverChange() throws {
        var onNvidia = F.rtx8000
        onNvidia.driver = "nvidia"
        let d = InventoryDiff(old: Self.input([onNvidia]), new: Self.input([F.rtx8000]))
        let driver = try #require(d.changed.first { $0.field == .driver })
        #expect(driver.old == "nvidia" && driver.new == "vfio-pci")
        #expect(driver.instance == "dsn:11-22-33-44-55-66-77-03" && driver.address == F.addr("0000:af:00.0"))
        let readiness = try #require(d.changed.first { $0.field == .readiness })
        #expect(readiness.old == "ready-after-binding" && readiness.new == "ready")
        #expect(d.changed.contains { $0.field == .readinessReasons && $0.old?.contains("not-bound-to-vfio") == true && $0.new == nil })
        #expect(d.table().contains("changed  0000:af:00.0  dsn:11-22-33-44-55-66-77-03  driver: nvidia -> vfio-pci\n"))
        // In field order: identity, driver, link, readiness, reasons, …
        let order = d.changed.map(\.field)
        #expect(
            order == order.sorted { InventoryDiff.Field.allCases.firstIndex(of: $0)! < InventoryDiff.Field.allCases.firstIndex(of: $1)! })
    }

    @Test("a link that trained lower is a link change; unknown on one side is one too")
    func linkChange() throws {
        var fast = F.t4, slow = F.t4, unknown = F.t4
        var l = LinkFacts(source: "config")
        l.currentSpeed = "8GT/s"; l.currentWidth = 16; l.maxSpeed = "8GT/s"; l.maxWidth = 16
        fast.link = l
        l.currentWidth = 8
        slow.link = l
        unknown.link = nil
        let d = InventoryDiff(old: Self.input([fast]), new: Self.input([slow]))
        // The narrower link is a readiness reason of its own (link-degraded).
        #expect(d.changed.map(\.field) == [.link, .readinessReasons])
        #expect(d.changed.last?.new?.contains("link-degraded") == true)
        #expect(d.changed.first?.old == "8GT/s x16 (max 8GT/s x16)")
        #expect(d.changed.first?.new == "8GT/s x8 (max 8GT/s x16)")
        let u = InventoryDiff(old: Self.input([fast]), new: Self.input([unknown]))
        #expect(u.changed.first?.new == nil)
        #expect(u.table().contains("link: 8GT/s x16 (max 8GT/s x16) -> unknown\n"))
    }

    @Test("label, mode, usage and binding changes; a VM's new pid alone is no change")
    func labelModeUsageBinding() throws {
        let addr = "0000:3b:00.0"
        func vm(_ pid: Int, _ guest: String?) -> DeviceUsage {
            DeviceUsage(
                state: .vm,
                bindings: [
                    VMBinding(
                        pid: pid, process: "qemu-system-x86", guest: guest,
                        node: "/dev/vfio/10", address: F.addr(addr))
                ])
        }
        let a = F.assignable(addr, instance: "dsn:aa", usage: vm(100, "vm-1"))
        var b = a
        b.usage = vm(200, "vm-1")
        #expect(InventoryDiff(old: Self.input([a]), new: Self.input([b])).identical, "same guest, new pid")

        b.label = LabelAssignment(name: "Inference T4", source: "instance")
        b.mode = .vgpu
        b.usage = vm(300, "vm-2")
        var c = b
        c.usage = DeviceUsage(state: .free)
        let d = InventoryDiff(old: Self.input([a]), new: Self.input([b]))
        #expect(d.changed.map(\.field) == [.mode, .label, .binding])
        #expect(d.changed.map(\.old) == ["whole-device", nil, "vm-1"])
        #expect(d.changed.map(\.new) == ["vgpu", "Inference T4 (instance)", "vm-2"])
        let freed = InventoryDiff(old: Self.input([b]), new: Self.input([c]))
        #expect(freed.changed.map(\.field) == [.usage, .binding])
        #expect(freed.table().contains("binding: vm-2 -> none\n"))
        // A QEMU without -name guest= is named by its process.
        var anonymous = c
        anonymous.usage = vm(1, nil)
        #expect(
            InventoryDiff(old: Self.input([c]), new: Self.input([anonymous])).changed.last?.new
                == "qemu-system-x86 (no guest name)")
    }

    @Test("against a schema 1.0 document, mode, usage and binding are not compared")
    func schemaOneZero() throws {
        let a = F.assignable(
            "0000:3b:00.0", instance: "dsn:aa", mode: .wholeDevice,
            usage: DeviceUsage(state: .unknown, unknownBecause: "schema 1.0 document: usage not recorded"))
        var b = a
        b.mode = .vgpu
        b.usage = DeviceUsage(state: .host)
        let d = InventoryDiff(old: Self.input([a], version: "1.0"), new: Self.input([b]))
        #expect(d.identical)
        #expect(d.notCompared == [.mode, .usage, .binding])
        b.driver = "nvidia"
        let e = InventoryDiff(old: Self.input([a], version: "1.0"), new: Self.input([b]))
        #expect(e.changed.map(\.field) == [.driver])
        // Both 1.1: compared.
        #expect(InventoryDiff(old: Self.input([a]), new: Self.input([b])).changed.map(\.field) == [.driver, .mode, .usage])
    }

    @Test("functions that are no descriptor's: driver changes, additions and removals by address")
    func nonDescriptorFunctions() throws {
        let gpu = Self.rtx8000(companions: [("0000:af:00.1", "audio"), ("0000:af:00.2", "usb"), ("0000:af:00.3", "audio")])
        let old = Self.input([
            gpu, Self.audio("0000:af:00.1", driver: "snd_hda_intel", group: 30),
            Self.audio("0000:af:00.2", driver: nil, group: 30), Self.rootPort("0000:00:01.0", driver: "pcieport"),
        ])
        let usb = F.function("0000:af:00.2", "10de", "1ad6", class: 0x0c0330, driver: "xhci_hcd", group: 30)
        let new = Self.input([
            gpu, Self.audio("0000:af:00.1", driver: "vfio-pci", group: 30), usb,
            Self.audio("0000:af:00.3", driver: nil, group: 30), Self.rootPort("0000:00:01.0", driver: nil),
        ])
        try #require(old.descriptors.map(\.address.description) == ["0000:af:00.0"])
        try #require(new.descriptors.map(\.address.description) == ["0000:af:00.0"])
        let d = InventoryDiff(old: old, new: new)
        #expect(
            d.functions.changed == [
                InventoryDiff.FunctionChange(address: F.addr("0000:00:01.0"), field: "driver", old: "pcieport", new: nil),
                InventoryDiff.FunctionChange(address: F.addr("0000:af:00.1"), field: "driver", old: "snd_hda_intel", new: "vfio-pci"),
            ])
        // Another vendor:device at an address is a removal and an addition.
        #expect(d.functions.removed.map(\.address.description) == ["0000:af:00.2"])
        #expect(d.functions.added.map(\.address.description) == ["0000:af:00.2", "0000:af:00.3"])
        #expect(d.functions.added.first?.ids == "10de:1ad6")
        #expect(d.table().contains("fn-changed  0000:af:00.1  -  driver: snd_hda_intel -> vfio-pci\n"), "\(d.table())")
        #expect(d.table().contains("fn-changed  0000:00:01.0  -  driver: pcieport -> none\n"))
        #expect(!d.identical)
    }

    @Test("a repeated instance id pairs by address first")
    func repeatedInstance() throws {
        let a = F.assignable("0000:01:00.0", instance: "slot:1"), b = F.assignable("0000:02:00.0", instance: "slot:1")
        var b2 = b
        b2.driver = "nvidia"
        let d = InventoryDiff(old: Self.input([a, b]), new: Self.input([b2, a]))
        #expect(d.moved.isEmpty && d.added.isEmpty && d.removed.isEmpty)
        #expect(d.changed.map(\.address.description) == ["0000:02:00.0"])
        let one = InventoryDiff(old: Self.input([a, b]), new: Self.input([b2]))
        #expect(one.removed.map(\.address.description) == ["0000:01:00.0"])
    }

    @Test("JSON: sorted keys, entries by instance id, explicit nulls, the same bytes for the same inputs")
    func json() throws {
        var b1 = F.assignable("0000:05:00.0", instance: "path:z"), b2 = F.assignable("0000:04:00.0", instance: "path:a")
        let old = Self.input([b1, b2])
        b1.driver = nil
        b2.driver = nil
        let new = Self.input([b2, b1, F.assignable("0000:06:00.0", instance: "dsn:new")])
        let d = InventoryDiff(old: old, new: new)
        #expect(d.changed.map(\.instance) == ["path:a", "path:z"])
        let bytes = try CanonicalJSON.encode(d)
        #expect(bytes == (try CanonicalJSON.encode(InventoryDiff(old: old, new: new))))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(
            text.hasPrefix(
                #"{"added":[{"address":"0000:06:00.0","driver":"vfio-pci","ids":"10de:1e30","instance":"dsn:new","instanceSource":"address","kind":"gpu","label":null,"name":null}],"changed":[{"address":"0000:04:00.0","field":"driver","instance":"path:a","new":null,"old":"vfio-pci"}"#
            ))
        #expect(text.contains("\"new\":null"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object.keys.sorted() == ["added", "changed", "functions", "identical", "moved", "new", "notCompared", "old", "removed"])
        let back = try JSONDecoder().decode(InventoryDiff.self, from: Data(bytes))
        #expect(back == d)
    }

    @Test("matching is by dictionary: 20,000 renumbered devices pair up")
    func large() throws {
        let n = 20_000
        func devices(_ base: Int) -> [AssignableDevice] {
            (0..<n).map { i in
                F.assignable(String(format: "%04x:%02x:%02x.0", base + i / 8192, (i / 32) % 256, i % 32), instance: "dsn:\(i)")
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let d = InventoryDiff(old: Self.input(devices(0)), new: Self.input(devices(1)))
        #expect(d.moved.count == n && d.changed.isEmpty && d.added.isEmpty)
        #expect(clock.now - start < .seconds(20), "quadratic matching would take minutes")
    }
}
