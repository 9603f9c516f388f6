import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

private typealias F = DeviceFixtures

@Suite("Agent labels")
struct AgentLabelTests {
    struct PrecedenceCase: Sendable, CustomTestStringConvertible {
        var instance: String?
        var udev: String?
        var rule: String?
        var expected: (String, String)?
        var testDescription: String { "instance=\(instance ?? "-") udev=\(udev ?? "-") rule=\(rule ?? "-")" }
    }

    @Test(
        "precedence: instance label > udev HWLABEL_LABEL > rule",
        arguments: [
            PrecedenceCase(instance: "Mine", udev: "From udev", rule: "By rule", expected: ("Mine", "instance")),
            PrecedenceCase(instance: nil, udev: "From udev", rule: "By rule", expected: ("From udev", "udev")),
            PrecedenceCase(instance: nil, udev: nil, rule: "By rule", expected: ("By rule", "rule")),
            PrecedenceCase(instance: "Mine", udev: nil, rule: "By rule", expected: ("Mine", "instance")),
            PrecedenceCase(instance: nil, udev: nil, rule: nil, expected: nil),
        ])
    func precedence(_ c: PrecedenceCase) throws {
        var t4 = F.t4
        if let u = c.udev { t4.properties["HWLABEL_LABEL"] = u }
        var labels = LabelSet()
        if let i = c.instance { labels.setInstanceLabel(key: "dsn:11-22-33-44-55-66-77-01", label: F.label(i)) }
        if let r = c.rule { labels.addRule(try LabelRule(vendor: "10de", device: "1eb8", label: F.label(r))) }
        let d = try #require(F.descriptors(F.snapshot([t4]), labels).descriptors.first)
        #expect(d.label?.name == c.expected?.0)
        #expect(d.label?.source == c.expected?.1)
    }

    @Test("two rules giving one device different labels: an error naming both, and no silent pick")
    func ruleConflict() throws {
        var labels = LabelSet()
        labels.addRule(try LabelRule(vendor: "10de", device: "1e30", label: F.label("Turing GPU")))
        labels.addRule(try LabelRule(vendor: "10de", classPrefix: "03", label: F.label("NVIDIA display")))
        let set = F.descriptors(F.snapshot([F.rtx6000]), labels)
        #expect(set.descriptors.first?.label == nil)
        let e = try #require(set.errors.first)
        #expect(e.code == "rule-conflict")
        #expect(e.message.contains("rule vendor=10de device=1e30 -> \"Turing GPU\""))
        #expect(e.message.contains("rule vendor=10de class=03 -> \"NVIDIA display\""))
    }

    @Test("two rules agreeing on the label are no conflict")
    func rulesAgree() throws {
        var labels = LabelSet()
        labels.addRule(try LabelRule(vendor: "10de", device: "1e30", label: F.label("Turing GPU")))
        labels.addRule(try LabelRule(vendor: "10de", classPrefix: "0300", label: F.label("Turing GPU")))
        let set = F.descriptors(F.snapshot([F.rtx6000]), labels)
        #expect(set.errors.isEmpty)
        #expect(set.descriptors.first?.label?.name == "Turing GPU")
    }

    @Test("Turing GPU covers T4 and Quadro RTX 6000 (subsystem 10de:13d9) but not RTX 8000 (10de:13d8)")
    func subsystemPrecision() throws {
        var labels = LabelSet()
        labels.addRule(try LabelRule(vendor: "10de", device: "1eb8", label: F.label("Turing GPU")))
        labels.addRule(
            try LabelRule(vendor: "10de", device: "1e30", subsystemVendor: "10de", subsystemDevice: "13d9", label: F.label("Turing GPU")))
        let snap = F.snapshot([F.t4, F.rtx6000, F.rtx8000])
        let set = F.descriptors(snap, labels)
        #expect(set.descriptor(at: F.t4.address)?.label?.name == "Turing GPU")
        #expect(set.descriptor(at: F.rtx6000.address)?.label?.name == "Turing GPU")
        #expect(set.descriptor(at: F.rtx8000.address)?.label == nil)
        // Exportability: Nova/KubeVirt select by vendor:product, so 10de:1e30 would also take the RTX 8000.
        let listing = LabelListing(labels: labels, descriptors: set, snapshot: snap)
        let summary = try #require(listing.labels.first { $0.label == "Turing GPU" })
        #expect(summary.devices == [F.t4.address, F.rtx6000.address])
        #expect(summary.warnings.count == 1)
        #expect(summary.warnings[0].contains("0000:af:00.0 (10de:1e30 subsystem 10de:13d8, unlabelled)"))
        #expect(!summary.warnings[0].contains("0000:3b:00.0 ("), "the T4 is covered, not over-matched")
    }

    @Test(
        "exported forms",
        arguments: [
            ("Turing GPU", "CUSTOM_HWLABEL_TURING_GPU", "Turing_GPU"),
            ("a100 (80GB)/sxm", "CUSTOM_HWLABEL_A100_80GB_SXM", "a100_80GB_sxm"),
            ("x-y.z", "CUSTOM_HWLABEL_X_Y_Z", "x-y.z"),
            ("Intel  QAT+v2", "CUSTOM_HWLABEL_INTEL_QAT_V2", "Intel_QAT_v2"),
        ])
    func exported(_ input: String, _ trait: String, _ k8s: String) throws {
        let l = try HardwareLabel(validating: input)
        #expect(l.placementTrait == trait)
        #expect(l.kubernetesValue == k8s)
        #expect(l.kubernetesValue.count <= 63)
    }

    @Test(
        "invalid labels are rejected with the reason",
        arguments: [
            ("", "empty"), (String(repeating: "a", count: 64), "longer than 63"), ("GPU!", "'!'"),
            (" GPU", "start and end"), ("GPU-", "start and end"), ("Grafikkarte ü", "'ü'"),
        ])
    func invalid(_ input: String, _ why: String) {
        #expect(throws: LabelError.self) { try HardwareLabel(validating: input) }
        do { _ = try HardwareLabel(validating: input) } catch { #expect(error.description.contains(why), "\(error)") }
    }

    @Test("instance identity: DSN, then slot, then upstream path, then address; all-zero serials are not unique")
    func identity() throws {
        let root = F.function("0000:00:01.0", "8086", "1901", class: 0x060400, driver: "pcieport", group: 1)
        var rootBridge = root; rootBridge.headerType = 1
        let withDSN = F.function(
            "0000:01:00.0", "10de", "1eb8", class: 0x030200, group: 2, serial: "00-11-22-ff-fe-33-44-55", slot: "3",
            upstream: "0000:00:01.0")
        let zeroDSN = F.function(
            "0000:02:00.0", "8086", "10fb", class: 0x020000, group: 3, serial: "00-00-00-00-00-00-00-00", slot: "5",
            upstream: "0000:00:01.0")
        let pathOnly = F.function("0000:03:00.1", "8086", "10fb", class: 0x020000, group: 4, upstream: "0000:00:01.0")
        let bare = F.function("0000:04:00.0", "144d", "a808", class: 0x010802, group: 5)
        let set = F.descriptors(F.snapshot([rootBridge, withDSN, zeroDSN, pathOnly, bare]))
        #expect(set.descriptor(at: withDSN.address)?.instance.id == "dsn:00-11-22-ff-fe-33-44-55")
        #expect(set.descriptor(at: zeroDSN.address)?.instance.id == "slot:5")
        #expect(set.descriptor(at: pathOnly.address)?.instance.id == "path:0000:00/01.0/00.1")
        #expect(set.descriptor(at: bare.address)?.instance == InstanceIdentity(id: "address:0000:04:00.0", source: "address"))
    }

    @Test("a card moved to another slot keeps its label (same DSN, different address)")
    func slotMove() throws {
        var labels = LabelSet()
        labels.setInstanceLabel(key: "dsn:11-22-33-44-55-66-77-01", label: F.label("Inference T4"))
        var moved = F.t4
        moved.address = F.addr("0000:d8:00.0")
        moved.physicalSlot = "7"
        let before = F.descriptors(F.snapshot([F.t4]), labels).descriptors[0]
        let after = F.descriptors(F.snapshot([moved]), labels).descriptors[0]
        #expect(before.label?.name == "Inference T4")
        #expect(after.address != before.address)
        #expect(after.instance.id == before.instance.id)
        #expect(after.label?.name == "Inference T4")
        // An address-keyed label does not follow the card.
        var byAddress = LabelSet()
        byAddress.setInstanceLabel(key: "0000:3b:00.0", label: F.label("By address"))
        #expect(F.descriptors(F.snapshot([moved]), byAddress).descriptors[0].label == nil)
    }

    @Test("suggest groups GPUs by architecture and uses subsystem precision only where needed")
    func suggest() throws {
        func turing(_ f: PCIFunction) -> PCIFunction {
            var f = f
            f.gpu?.architecture = Sourced("Turing", source: "catalog@1")
            return f
        }
        var other = F.rtx8000
        other.gpu?.architecture = Sourced("Volta", source: "test") // pretend, to force a clash on 10de:1e30
        let set = F.descriptors(F.snapshot([turing(F.t4), turing(F.rtx6000), other]))
        let s = LabelSuggester().suggestions(for: set)
        let t = try #require(s.first { $0.label == "Turing GPU" })
        #expect(t.basis == "gpu-architecture")
        #expect(t.devices == [F.t4.address, F.rtx6000.address])
        #expect(
            t.commands == [
                "hwlabel label rule add --vendor 10de --device 1eb8 'Turing GPU'",
                "hwlabel label rule add --vendor 10de --device 1e30 --subsystem 10de:13d9 'Turing GPU'",
            ])
    }

    @Test(
        "policy: exclude wins, include adds a non-default class, bridges never",
        arguments: [
            (Policy(exclude: [.address(DeviceFixtures.addr("0000:3b:00.0"))]), false, false),
            (Policy(include: [.classPrefix("0880")]), true, true),
            (Policy(include: [.classPrefix("0880")], exclude: [.vendor("10de")]), false, true),
        ])
    func policy(_ p: Policy, _ gpuListed: Bool, _ systemPeripheralListed: Bool) {
        var bridge = F.function("0000:00:01.0", "8086", "1901", class: 0x060400, driver: "pcieport")
        bridge.headerType = 1
        let sp = F.function("0000:00:08.0", "8086", "1911", class: 0x088000)
        let set = F.descriptors(
            F.snapshot([F.t4, sp, bridge]), LabelSet(), Policy(include: p.include + [.classPrefix("06")], exclude: p.exclude))
        #expect((set.descriptor(at: F.t4.address) != nil) == gpuListed)
        #expect((set.descriptor(at: sp.address) != nil) == systemPeripheralListed)
        #expect(set.descriptor(at: bridge.address) == nil)
    }
}

@Suite("Exported names: one collapse rule, one normaliser per target")
struct ExportedNameTests {
    static func dashOrAlnum(_ u: Unicode.Scalar) -> Bool { ExportedName.isASCIIAlphanumeric(u) || u == "-" }

    @Test("a run of rejected characters is one replacement; after a kept replacement it is written or absorbed")
    func collapsingRuns() {
        #expect(ExportedName.collapsingRuns("a (b)) c", keeping: Self.dashOrAlnum, into: "-") == "a-b-c")
        #expect(ExportedName.collapsingRuns("a-(b", keeping: Self.dashOrAlnum, into: "-") == "a--b")
        #expect(ExportedName.collapsingRuns("a-(b", keeping: Self.dashOrAlnum, into: "-", afterReplacement: .absorbed) == "a-b")
        #expect(ExportedName.collapsingRuns("(a)", keeping: Self.dashOrAlnum, into: "-") == "-a-")
        #expect(ExportedName.collapsingRuns("", keeping: Self.dashOrAlnum, into: "-") == "")
        #expect(ExportedName.collapsingRuns("é漢🚀", keeping: Self.dashOrAlnum, into: "_") == "_")
        #expect(ExportedName.trimmedToAlphanumericEnds("--a-b--", maxLength: 63) == "a-b")
        #expect(ExportedName.trimmedToAlphanumericEnds("ab-cd", maxLength: 3) == "ab")
        #expect(ExportedName.trimmedToAlphanumericEnds("-_.", maxLength: 63) == nil)
    }

    @Test("Placement: upper-cased, runs to _, not trimmed, cut to 255, nil when only _ is left")
    func placement() throws {
        #expect(ExportedName.placement("a100 (80GB)", prefix: "CUSTOM_HWLABEL_") == "CUSTOM_HWLABEL_A100_80GB_")
        #expect(ExportedName.placement("Team_(A)", prefix: "CUSTOM_X_") == "CUSTOM_X_TEAM__A_")
        #expect(ExportedName.placement("straße", prefix: "CUSTOM_X_") == "CUSTOM_X_STRASSE")
        #expect(ExportedName.placement(String(repeating: "x", count: 300), prefix: "CUSTOM_X_")?.count == 255)
        #expect(ExportedName.placement("(_)", prefix: "CUSTOM_X_") == nil)
        #expect(
            try HardwareLabel(validating: "a100 (80GB)/sxm").placementTrait
                == ExportedName.placement("a100 (80GB)/sxm", prefix: HardwareLabel.placementPrefix))
    }

    @Test("NFD label name: runs to -, none right after a -, ≤ 63, alphanumeric ends")
    func nfdLabelName() {
        #expect(ExportedName.nfdLabelName("label.RTX 6000/8000 (Quadro)") == "label.RTX-6000-8000-Quadro")
        #expect(ExportedName.nfdLabelName("a-(b") == "a-b")
        #expect(ExportedName.nfdLabelName("a (-b") == "a--b")
        #expect(ExportedName.nfdLabelName("(x)") == "x")
        #expect(ExportedName.nfdLabelName(String(repeating: "y", count: 70) + "!") == String(repeating: "y", count: 63))
        #expect(ExportedName.nfdLabelName("é") == nil)
    }
}
