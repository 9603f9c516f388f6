import Foundation
import HWLabelProbe
import HWLabelTestSupport
import Testing

@testable import HWLabelCore

private typealias F = DeviceFixtures

/// Labels that follow the hardware: labels.conf records the identity of the card a label was
/// given to, a label is not applied to another card put at its instance, the swap is reported
/// (drift, an identity-changed tombstone), and labels whose exported names collide are caught.
@Suite("Labels: recorded identity, drift and exported-name collisions")
struct LabelIdentityTests {
    /// The T4 in slot 3 (no serial number: known by its slot).
    static let t4 = F.function("0000:3b:00.0", "10de", "1eb8", class: 0x030200, subsystem: ("10de", "12a2"), group: 10, slot: "3")
    /// An A10 put into the same slot.
    static let a10 = F.function("0000:3b:00.0", "10de", "2236", class: 0x030200, subsystem: ("10de", "1482"), group: 10, slot: "3")
    static let t4Identity = RecordedIdentity(
        vendor: "10de", device: "1eb8", subsystemVendor: "10de", subsystemDevice: "12a2", classCode: "030200")

    static func parse(_ text: String) throws(ConfigError) -> LabelsDocument {
        try LabelsDocument.parse(text, path: "/etc/hwlabel/labels.conf")
    }

    // MARK: labels.conf

    @Test("a device line with identity fields parses, serializes back byte for byte, and old lines still parse")
    func roundTrip() throws {
        let text = """
            # comment kept
            device slot:3 vendor=10de device=1eb8 subsystem=10de:12a2 class=030200 = Inference T4
            device dsn:00-11-22-ff-fe-33-44-55 vendor=15b3 device=1021 class=020000 = Fabric NIC
            device 0000:af:00.0 = By address

            rule vendor=10de device=1eb8 = Turing GPU

            """
        let doc = try Self.parse(text)
        #expect(doc.serialized() == text)
        let labels = doc.labelSet.instanceLabels
        #expect(labels.map(\.key) == ["slot:3", "dsn:00-11-22-ff-fe-33-44-55", "0000:af:00.0"])
        #expect(labels[0].identity == Self.t4Identity)
        #expect(labels[1].identity?.subsystemVendor == nil && labels[1].identity?.classCode == "020000")
        #expect(labels[2].identity == nil)
    }

    @Test("hand-typed identity fields in any order and case are normalised on rewrite")
    func normalised() throws {
        let doc = try Self.parse("device slot:3 class=0x030200 subsystem=10DE:12A2 device=1EB8 vendor=0x10de = Inference T4\n")
        #expect(doc.labelSet.instanceLabels.first?.identity == Self.t4Identity)
        #expect(doc.serialized() == "device slot:3 vendor=10de device=1eb8 subsystem=10de:12a2 class=030200 = Inference T4\n")
    }

    @Test(
        "bad identity fields fail naming file and line",
        arguments: [
            ("device slot:3 vendor=10de class=030200 = X", "needs vendor=VVVV device=DDDD class=CCSSPP"),
            ("device slot:3 vendor=10de device=1eb8 class=0302 = X", "class (6 hex digits"),
            ("device slot:3 vendor=10de device=1eb8 class=030200 rev=a1 = X", "unknown identity field 'rev='"),
            ("device slot:3 vendor=10de device=1eb8 class=030200 vendor=10de = X", "vendor given twice"),
            ("device slot:3 vendor=10de device=1eb8 class=030200 subsystem=10de = X", "subsystem (SVVV:SDDD)"),
            ("device slot:3 vendor=10dg device=1eb8 class=030200 = X", "vendor ID (4 hex digits)"),
            ("device slot:3 vendor=10de device=1eb8 class= = X", "unknown identity field 'class='"),
            ("device slot:3 10de:1eb8 = X", "unknown identity field '10de:1eb8'"),
        ])
    func badFields(_ c: (String, String)) throws {
        let text = "# header\ndevice slot:1 = Fine\n" + c.0 + "\n"
        let e = try #require(throws: ConfigError.self) { try Self.parse(text) }
        #expect(e.file == "/etc/hwlabel/labels.conf" && e.line == 3, "\(e)")
        #expect(e.description.hasPrefix("/etc/hwlabel/labels.conf:3: "), "\(e)")
        #expect(e.description.contains(c.1), "\(e)")
    }

    @Test("setInstanceLabel records the identity and replaces the line in place; the header explains the fields")
    func setRecordsIdentity() throws {
        var doc = LabelsDocument()
        #expect(doc.serialized().contains("vendor=VVVV device=DDDD [subsystem=SVVV:SDDD] class=CCSSPP"))
        doc.setInstanceLabel(key: "slot:1", label: F.label("First"))
        doc.setInstanceLabel(key: "slot:3", label: F.label("Inference T4"), identity: Self.t4Identity)
        doc.setInstanceLabel(key: "slot:1", label: F.label("Renamed"), identity: RecordedIdentity(Self.a10))
        let lines = doc.serialized().split(separator: "\n").filter { $0.hasPrefix("device") }
        #expect(
            lines == [
                "device slot:1 vendor=10de device=2236 subsystem=10de:1482 class=030200 = Renamed",
                "device slot:3 vendor=10de device=1eb8 subsystem=10de:12a2 class=030200 = Inference T4",
            ])
        // What is written parses back to the same labels (the header included).
        #expect(try Self.parse(doc.serialized()).labelSet == doc.labelSet)
    }

    // MARK: collisions

    @Test(
        "a different label that exports to the same trait or Kubernetes value collides",
        arguments: [
            ("Turing GPU", "turing gpu", [LabelCollision.Form.placementTrait], ["CUSTOM_HWLABEL_TURING_GPU"]),
            ("Turing GPU", "Turing-GPU", [.placementTrait], ["CUSTOM_HWLABEL_TURING_GPU"]),
            ("Turing GPU", "Turing_GPU", [.placementTrait, .kubernetesValue], ["CUSTOM_HWLABEL_TURING_GPU", "Turing_GPU"]),
            ("Turing GPU", "Turing(GPU", [.placementTrait, .kubernetesValue], ["CUSTOM_HWLABEL_TURING_GPU", "Turing_GPU"]),
            // Same Kubernetes value, different traits: `_` is kept by both, `.` only by Kubernetes.
            ("A .B", "A_.B", [.kubernetesValue], ["A_.B"]),
        ])
    func collides(_ c: (String, String, [LabelCollision.Form], [String])) throws {
        var doc = LabelsDocument()
        doc.setInstanceLabel(key: "slot:3", label: F.label(c.0))
        doc.addRule(try LabelRule(vendor: "8086", label: F.label("Intel NIC")))
        let hit = try #require(doc.exportCollision(for: F.label(c.1)))
        #expect(hit.existing.name == c.0 && hit.definition == "device slot:3")
        #expect(hit.forms == c.2 && hit.exportedNames == c.3)
        #expect(hit.description.hasPrefix("label \"\(c.1)\" collides with label \"\(c.0)\" (device slot:3): both export as "))
        #expect(hit.description.contains(c.3[0]))
    }

    @Test("the same label again, or one that exports apart, is no collision; a rule is named by its selector")
    func noCollision() throws {
        var doc = LabelsDocument()
        doc.addRule(try LabelRule(vendor: "10de", device: "1eb8", label: F.label("Turing GPU")))
        #expect(doc.exportCollision(for: F.label("Turing GPU")) == nil)
        #expect(doc.exportCollision(for: F.label("Turing GPU 2")) == nil)
        #expect(doc.exportCollision(for: F.label("Turing")) == nil)
        #expect(doc.exportCollision(for: F.label("TURING-GPU"))?.definition == "rule vendor=10de device=1eb8")
    }

    @Test("a hand-edited file holding colliding labels: one warning per later label, naming both and the shared name")
    func handEditedCollisions() throws {
        let doc = try Self.parse(
            """
            device slot:3 = Turing GPU
            device slot:4 = turing gpu
            device slot:5 = Turing GPU
            rule vendor=10de device=1e30 = Turing-GPU
            rule vendor=8086 = Intel NIC

            """)
        let ws = doc.labelSet.exportCollisions()
        #expect(ws.count == 2, "\(ws)")
        #expect(ws.allSatisfy { $0.code == "label-collision" && $0.severity == .warning })
        #expect(
            ws.first?.message
                == "labels \"Turing GPU\" (device slot:3) and \"turing gpu\" (device slot:4) in labels.conf both export as "
                + "Placement trait CUSTOM_HWLABEL_TURING_GPU: Placement and Kubernetes cannot tell them apart; give both "
                + "the same label, or rename one with `hwlabel label`")
        #expect(ws.last?.message.contains("\"Turing-GPU\" (rule vendor=10de device=1e30)") == true)
        #expect(try Self.parse("device slot:3 = Turing GPU\nrule vendor=10de = Turing GPU\n").labelSet.exportCollisions().isEmpty)
    }

    // MARK: drift

    @Test("a label recorded for the T4 is not applied to the A10 put into its slot; the T4 keeps it")
    func resolveSkipsOtherCard() throws {
        var labels = LabelSet()
        labels.setInstanceLabel(key: "slot:3", label: F.label("Inference T4"), identity: RecordedIdentity(Self.t4))
        let instance = InstanceIdentity(id: "slot:3", source: "physical-slot")
        #expect(labels.resolve(Self.t4, instance: instance).assignment?.name == "Inference T4")
        #expect(labels.resolve(Self.a10, instance: instance).assignment == nil)
        // A rule still labels the A10: only the instance label belongs to the T4.
        labels.addRule(try LabelRule(vendor: "10de", device: "2236", label: F.label("Ampere GPU")))
        #expect(
            labels.resolve(Self.a10, instance: instance).assignment
                == LabelAssignment(name: "Ampere GPU", source: "rule", rule: "vendor=10de device=2236"))
        // A label without an identity asserts nothing (an older file): it applies to either card.
        var old = LabelSet()
        old.setInstanceLabel(key: "slot:3", label: F.label("Inference T4"))
        #expect(old.resolve(Self.a10, instance: instance).assignment?.name == "Inference T4")
    }

    @Test("DescriptorBuilder: the A10 in the T4's slot carries the drift and a warning naming the slot")
    func descriptorDrift() throws {
        var labels = LabelSet()
        labels.setInstanceLabel(key: "slot:3", label: F.label("Inference T4"), identity: RecordedIdentity(Self.t4))
        let before = F.descriptors(F.snapshot([Self.t4]), labels)
        #expect(before.descriptors.first?.label?.name == "Inference T4")
        #expect(before.descriptors.first?.drift.isEmpty == true)
        #expect(!before.warnings.contains { $0.code == "identity-drift" })

        let after = F.descriptors(F.snapshot([Self.a10]), labels)
        let d = try #require(after.descriptors.first)
        #expect(d.instance.id == "slot:3")
        #expect(d.label == nil)
        #expect(
            d.drift == [
                IdentityDrift(
                    source: .label, key: "slot:3", recorded: Self.t4Identity, present: RecordedIdentity(Self.a10),
                    label: "Inference T4")
            ])
        let w = try #require(after.warnings.first { $0.code == "identity-drift" })
        #expect(w.address == Self.a10.address)
        #expect(w.message.contains("slot:3") && w.message.contains("\"Inference T4\"") && w.message.contains("10de:2236"))
        // A moved card with a serial number keeps its label: the identity travels with the DSN.
        var dsn = LabelSet()
        dsn.setInstanceLabel(key: "dsn:11-22-33-44-55-66-77-01", label: F.label("Inference T4"), identity: RecordedIdentity(F.t4))
        var moved = F.t4
        moved.address = F.addr("0000:d8:00.0")
        let m = try #require(F.descriptors(F.snapshot([moved]), dsn).descriptors.first)
        #expect(m.label?.name == "Inference T4" && m.drift.isEmpty)
    }

    // MARK: report

    @Test("report: the A10 in the T4's slot ends the T4 with an identity-changed tombstone; the T4 back drops it")
    func reportTombstone() throws {
        var labels = LabelSet()
        labels.setInstanceLabel(key: "slot:3", label: F.label("Inference T4"), identity: RecordedIdentity(Self.t4))
        let host = HostIdentity(machineId: "0123456789abcdef0123456789abcdef", hostname: "kvm-07")
        func scan(_ f: PCIFunction) -> ScanResult {
            ScanResult(descriptors: F.descriptors(F.snapshot([f]), labels).descriptors, host: host, bootId: "b")
        }
        let t0 = Date(timeIntervalSince1970: 1_750_000_000)
        let r1 = ReportBuilder.next(previous: nil, epoch: "e", scan: scan(Self.t4), now: t0)
        #expect(r1.tombstones.isEmpty && r1.descriptors.first?.label?.name == "Inference T4")

        let r2 = ReportBuilder.next(previous: r1, epoch: "e", scan: scan(Self.a10), now: t0.addingTimeInterval(60))
        #expect(r2.generation == r1.generation + 1)
        #expect(
            r2.tombstones == [
                Tombstone(
                    instanceId: "slot:3", address: Self.t4.address, reason: .identityChanged, sinceGeneration: r2.generation,
                    identity: Self.t4Identity)
            ])
        let a10 = try #require(r2.descriptors.first)
        #expect(a10.instance.id == "slot:3" && a10.attributes.device == "2236" && a10.label == nil)
        #expect(a10.drift.first?.recorded == Self.t4Identity)
        // The same A10 again: nothing new, the tombstone stays once.
        let r3 = ReportBuilder.next(previous: r2, epoch: "e", scan: scan(Self.a10), now: t0.addingTimeInterval(120))
        #expect(r3.generation == r2.generation && r3.tombstones == r2.tombstones)

        // The T4 back in slot 3: its tombstone ends, and the A10 that left gets one of its own.
        let r4 = ReportBuilder.next(previous: r3, epoch: "e", scan: scan(Self.t4), now: t0.addingTimeInterval(180))
        #expect(!r4.tombstones.contains { $0.identity == Self.t4Identity })
        #expect(r4.tombstones.map(\.identity) == [RecordedIdentity(Self.a10)])
        #expect(r4.descriptors.first?.label?.name == "Inference T4" && r4.descriptors.first?.drift.isEmpty == true)
    }
}
