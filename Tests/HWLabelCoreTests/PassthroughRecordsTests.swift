import HWLabelProbe
import Testing

@testable import HWLabelCore

/// `passthrough.conf` as a document: what it holds, that a rewrite keeps everything it does not
/// change, and that every bad line is named by file and line.
@Suite("Passthrough records: passthrough.conf parse, rewrite and errors")
struct PassthroughRecordsTests {
    static let device =
        "device slot:6 vendor=10de device=1e30 subsystem=10de:129e class=030000 address=0000:cb:00.0 previous=nvidia driver=vfio-pci group=14"
    static let member =
        "member slot:6 0000:cb:00.1 role=companion vendor=10de device=10f7 subsystem=10de:129e class=040300 previous=snd_hda_intel"
    static let text = """
        # operator's note: the RTX 8000 in slot 6 belongs to the render farm

        \(device)
        \(member)
        member slot:6 0000:ca:02.0 role=bystander vendor=8086 device=347a class=060400 previous=pcieport
        future-directive something=1
        device dsn:48-44-31-30-30-00-00-00 vendor=10de device=2330 class=030200 address=0000:1b:00.0 driver=vfio-pci

        """

    @Test("parse: records with identity, address, previous driver, VFIO driver, group and members")
    func parses() throws {
        let doc = try PassthroughRecordsDocument.parse(Self.text, path: "/etc/hwlabel/passthrough.conf")
        #expect(doc.records.map(\.key) == ["slot:6", "dsn:48-44-31-30-30-00-00-00"])
        let r = try #require(doc.record(key: "slot:6"))
        #expect(r.identity.fields == "vendor=10de device=1e30 subsystem=10de:129e class=030000")
        #expect(r.address == PCIAddress("0000:cb:00.0") && r.previousDriver == "nvidia" && r.driver == "vfio-pci" && r.group == 14)
        #expect(r.members.map(\.address) == [PCIAddress("0000:cb:00.1")!, PCIAddress("0000:ca:02.0")!])
        #expect(r.members.map(\.role) == [.companion, .bystander])
        #expect(r.members[0].previousDriver == "snd_hda_intel")
        let d = try #require(doc.record(key: "dsn:48-44-31-30-30-00-00-00"))
        #expect(d.previousDriver == nil && d.group == nil && d.identity.subsystemVendor == nil)
        #expect(doc.unknownLines == [6])
        #expect(doc.recordedInstances.map(\.source) == [.passthrough, .passthrough])
    }

    @Test("round trip: a document written back is byte-identical, comments and unknown lines included")
    func roundTrip() throws {
        let doc = try PassthroughRecordsDocument.parse(Self.text, path: "p")
        #expect(doc.serialized() == Self.text)
        let again = try PassthroughRecordsDocument.parse(doc.serialized(), path: "p")
        #expect(again == doc)
        // A new document starts with the commented header, and parses back.
        var fresh = PassthroughRecordsDocument()
        fresh.upsert(try #require(doc.record(key: "slot:6")))
        let written = fresh.serialized()
        #expect(written.hasPrefix("# hwlabel passthrough records"))
        #expect(try PassthroughRecordsDocument.parse(written, path: "p").records == [doc.record(key: "slot:6")!])
    }

    @Test("upsert replaces in place, remove drops only the record: comments and unknown lines stay")
    func edits() throws {
        var doc = try PassthroughRecordsDocument.parse(Self.text, path: "p")
        var r = try #require(doc.record(key: "slot:6"))
        r.previousDriver = "nouveau"
        r.members = []
        doc.upsert(r)
        let lines = doc.serialized().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[2] == Self.device.replacingOccurrences(of: "previous=nvidia", with: "previous=nouveau"))
        #expect(lines[3] == "future-directive something=1")
        #expect(doc.remove(keys: ["slot:6"]) == 1)
        let left = doc.serialized()
        #expect(left.hasPrefix("# operator's note") && left.contains("future-directive something=1"))
        #expect(!left.contains("slot:6") && left.contains("dsn:48-44"))
    }

    @Test(
        "every bad line is named by file and line",
        arguments: [
            ("device slot:6 vendor=10de device=1e30 class=030000 driver=vfio-pci", "a device needs address="),
            ("device slot:6 vendor=10de device=1e30 class=030000 address=0000:cb:00.0", "a device needs driver="),
            ("device slot:6 vendor=10de class=030000 address=0000:cb:00.0 driver=vfio-pci", "a recorded identity needs vendor="),
            ("device slot:6 vendor=10de device=1e30 class=0300 address=0000:cb:00.0 driver=vfio-pci", "class (6 hex digits"),
            ("device slot:6 vendor=10de device=1e30 class=030000 address=cb:00 driver=vfio-pci", "address=cb:00 is not a PCI address"),
            (
                "device slot:6 vendor=10de device=1e30 class=030000 address=0000:cb:00.0 driver=vfio-pci colour=red",
                "unknown field 'colour='"
            ),
            ("device slot:6 vendor=10de vendor=10de device=1e30 class=030000 address=0000:cb:00.0 driver=vfio-pci", "vendor= given twice"),
            (
                "device slot:6 vendor=10de device=1e30 class=030000 address=0000:cb:00.0 driver=vfio;pci",
                "driver=vfio;pci is not a driver name"
            ),
            (
                "device slot:6 vendor=10de device=1e30 class=030000 address=0000:cb:00.0 driver=vfio-pci group=x",
                "group=x is not an IOMMU group"
            ),
            (
                "device nowhere vendor=10de device=1e30 class=030000 address=0000:cb:00.0 driver=vfio-pci",
                "'nowhere' is neither an instance id"
            ),
            ("member slot:9 0000:cb:00.1 role=companion vendor=10de device=10f7 class=040300", "no device slot:9 line above it"),
            ("member slot:1 0000:cb:00.1 role=friend vendor=10de device=10f7 class=040300", "role=friend is not one of"),
            ("member slot:1 0000:cb:00.1 vendor=10de device=10f7 class=040300", "a member needs role="),
            (
                "device slot:1 vendor=10de device=1e30 class=030000 address=0000:cb:00.0 driver=vfio-pci",
                "device slot:1 already recorded on line 2"
            ),
        ])
    func errors(line: String, message: String) throws {
        let text = "# header\ndevice slot:1 vendor=10de device=1e30 class=030000 address=0000:ca:00.0 driver=vfio-pci\n\(line)\n"
        do {
            _ = try PassthroughRecordsDocument.parse(text, path: "/etc/hwlabel/passthrough.conf")
            Issue.record("parsed: \(line)")
        } catch {
            #expect(error.file == "/etc/hwlabel/passthrough.conf" && error.line == 3, "\(error)")
            #expect(error.description.hasPrefix("/etc/hwlabel/passthrough.conf:3: "), "\(error)")
            #expect(error.description.contains(message), "\(error.description)")
        }
    }
}
