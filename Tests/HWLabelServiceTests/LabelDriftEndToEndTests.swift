import Foundation
import HWLabelProbe
import HWLabelTestSupport
import Testing

/// Labels that follow the hardware, run as an operator runs them: the built `hwlabel` binary over
/// kernel-shaped trees. A label given to the T4 in slot 3 is not given to the A10 put into that
/// slot (a copy of the tree with the new card's IDs), and `inventory` and `show` say so; a card
/// with a serial number keeps its label in another slot; a label whose exported names collide
/// with another's is refused.
@Suite("Labels follow the hardware: hwlabel label set, inventory and show over swapped and moved cards")
struct LabelDriftEndToEndTests {
    /// A config directory, removed at the end.
    final class Config {
        let dir: String
        init() throws { dir = try ProbeTestSupport.makeTemp("drift-config") }
        deinit { ProbeTestSupport.removeTemp(dir) }
        var labels: String { (try? String(contentsOfFile: dir + "/labels.conf", encoding: .utf8)) ?? "" }
    }

    struct Card {
        var device: String
        var subsystemDevice: String
        var dsn: UInt64? = nil
        static let t4 = Card(device: "1eb8", subsystemDevice: "12a2")
        static let a10 = Card(device: "2236", subsystemDevice: "1482")
    }

    /// Two root ports with physical slots 3 and 4; `card` under the port at `port` (0 or 1), so
    /// at 0000:01:00.0 (slot 3) or 0000:02:00.0 (slot 4).
    static func tree(_ card: Card, port: Int = 0) throws -> TreeBuilder {
        let t = try TreeBuilder()
        let ports = ["0000:00:01.0", "0000:00:02.0"]
        for (i, p) in ports.enumerated() {
            try t.addBridge(
                p, vendor: "8086", device: "2030", port: .rootPort, secondary: UInt8(i + 1),
                subordinate: UInt8(i + 1), parent: nil, iommuGroup: i)
            try t.slot("\(i + 3)", address: String(format: "0000:%02x:00.0", i + 1))
        }
        let address = String(format: "0000:%02x:00.0", port + 1)
        let cfg = ConfigSpace(
            vendor: 0x10de, device: UInt16(card.device, radix: 16)!, classCode: 0x030200,
            subsystemVendor: 0x10de, subsystemDevice: UInt16(card.subsystemDevice, radix: 16)!, flr: true, dsn: card.dsn)
        try t.add(
            .init(
                address: address, vendor: "10de", device: card.device, classCode: "030200",
                subsystemVendor: "10de", subsystemDevice: card.subsystemDevice, config: cfg.bytes(),
                driver: "vfio-pci", iommuGroup: 10 + port, parent: ports[port]))
        return t
    }

    static func hwlabel(_ arguments: [String], _ tree: TreeBuilder, _ config: Config) throws -> ProbeTestSupport.Result {
        try ProbeTestSupport.run(
            try ProbeTestSupport.hwlabelBinary(), arguments + ["--sysfs-root", tree.sysRoot, "--config-dir", config.dir])
    }

    /// `inventory --format json`: the descriptors by address, and stderr.
    static func inventory(_ tree: TreeBuilder, _ config: Config) throws -> ([String: [String: Any]], String) {
        let r = try hwlabel(["inventory", "--format", "json"], tree, config)
        try #require(r.status == 0, "inventory: \(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        var out: [String: [String: Any]] = [:]
        for d in doc["descriptors"] as? [[String: Any]] ?? [] { out[d["address"] as! String] = d }
        return (out, r.stderr)
    }

    static let t4Fields = "vendor=10de device=1eb8 subsystem=10de:12a2 class=030200"

    @Test("the T4 labelled by address in slot 3; an A10 in that slot: no label, drift in the descriptor, warnings naming the slot")
    func swappedCard() throws {
        let config = try Config()
        let t4 = try Self.tree(.t4), a10 = try Self.tree(.a10)
        defer { t4.cleanup(); a10.cleanup() }

        let set = try Self.hwlabel(["label", "set", "0000:01:00.0", "Inference T4"], t4, config)
        #expect(set.status == 0, "\(set.stderr)")
        #expect(
            set.stdout
                == "device slot:3 \(Self.t4Fields) = Inference T4   (trait CUSTOM_HWLABEL_INFERENCE_T4, k8s Inference_T4)\n")
        #expect(config.labels.contains("\ndevice slot:3 \(Self.t4Fields) = Inference T4\n"), "\(config.labels)")

        let (before, beforeErr) = try Self.inventory(t4, config)
        let d0 = try #require(before["0000:01:00.0"])
        #expect((d0["label"] as? [String: Any])?["name"] as? String == "Inference T4")
        #expect(d0["drift"] == nil)
        #expect(!beforeErr.contains("slot:3"), "\(beforeErr)")

        let (after, afterErr) = try Self.inventory(a10, config)
        let d1 = try #require(after["0000:01:00.0"])
        #expect((d1["instance"] as? [String: Any])?["id"] as? String == "slot:3")
        #expect(d1["label"] == nil || d1["label"] is NSNull, "\(d1["label"] ?? "")")
        let drift = try #require(d1["drift"] as? [[String: Any]])
        #expect(drift.count == 1)
        #expect(drift.first?["source"] as? String == "label" && drift.first?["key"] as? String == "slot:3")
        #expect(drift.first?["label"] as? String == "Inference T4")
        #expect((drift.first?["recorded"] as? [String: Any])?["device"] as? String == "1eb8")
        #expect((drift.first?["present"] as? [String: Any])?["device"] as? String == "2236")
        let warning = try #require(afterErr.split(separator: "\n").first { $0.contains("slot:3") }, "\(afterErr)")
        #expect(warning.hasPrefix("hwlabel: warning: 0000:01:00.0: slot:3: label \"Inference T4\""), "\(warning)")
        #expect(warning.contains("10de:2236"))

        let show = try Self.hwlabel(["show", "0000:01:00.0"], a10, config)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stderr.contains("slot:3: label \"Inference T4\""), "show: \(show.stderr)")
        #expect(show.stdout.contains("\tLabel: none\n"), "\(show.stdout)")
        #expect(show.stdout.contains("\tDrift: slot:3: label \"Inference T4\" was given to 10de:1eb8"), "\(show.stdout)")

        // Labelling the A10 by its instance id records the A10: the drift ends.
        let again = try Self.hwlabel(["label", "set", "slot:3", "Inference A10"], a10, config)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.hasPrefix("device slot:3 vendor=10de device=2236 subsystem=10de:1482 class=030200 = Inference A10"))
        let (relabelled, relabelledErr) = try Self.inventory(a10, config)
        #expect((relabelled["0000:01:00.0"]?["label"] as? [String: Any])?["name"] as? String == "Inference A10")
        #expect(relabelled["0000:01:00.0"]?["drift"] == nil && !relabelledErr.contains("slot:3"), "\(relabelledErr)")
    }

    @Test("an instance id with no device present: stored without identity, said on stderr")
    func absentInstance() throws {
        let config = try Config()
        let t4 = try Self.tree(.t4)
        defer { t4.cleanup() }
        let r = try Self.hwlabel(["label", "set", "slot:9", "Spare slot"], t4, config)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("device slot:9 = Spare slot   (trait CUSTOM_HWLABEL_SPARE_SLOT"))
        #expect(r.stderr.contains("hwlabel: warning: no assignable device is slot:9 now"), "\(r.stderr)")
        #expect(config.labels.hasSuffix("\ndevice slot:9 = Spare slot\n"), "\(config.labels)")
    }

    @Test("a card with a serial number moved to another slot keeps its label and shows no drift")
    func movedCardWithDSN() throws {
        let config = try Config()
        var card = Card.t4
        card.dsn = 0x0011_2233_4455_6677
        let here = try Self.tree(card, port: 0), there = try Self.tree(card, port: 1)
        defer { here.cleanup(); there.cleanup() }
        let set = try Self.hwlabel(["label", "set", "0000:01:00.0", "Inference T4"], here, config)
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.hasPrefix("device dsn:"), "\(set.stdout)")
        #expect(set.stdout.contains(Self.t4Fields))
        let (moved, err) = try Self.inventory(there, config)
        let d = try #require(moved["0000:02:00.0"])
        #expect((d["label"] as? [String: Any])?["name"] as? String == "Inference T4")
        #expect(d["drift"] == nil)
        #expect(!err.contains("drift") && !err.contains("not applied"), "\(err)")
    }

    @Test("labels whose exported names collide with a different label are refused: exit 2 naming it, nothing saved")
    func collisionRefused() throws {
        let config = try Config()
        let t4 = try Self.tree(.t4)
        defer { t4.cleanup() }
        #expect(try Self.hwlabel(["label", "set", "0000:01:00.0", "Turing GPU"], t4, config).status == 0)
        let saved = config.labels
        for name in ["turing gpu", "Turing-GPU", "TURING_GPU"] {
            let set = try Self.hwlabel(["label", "set", "slot:4", name], t4, config)
            #expect(set.status == 2, "\(name): \(set.stdout)")
            #expect(set.stdout.isEmpty)
            #expect(
                set.stderr.contains(
                    "hwlabel: error: label \"\(name)\" collides with label \"Turing GPU\" (device slot:3): both export as Placement trait CUSTOM_HWLABEL_TURING_GPU"
                ), "\(set.stderr)")
            let rule = try Self.hwlabel(["label", "rule", "add", "--vendor", "10de", "--device", "2236", name], t4, config)
            #expect(rule.status == 2, "\(name): \(rule.stdout)")
            #expect(rule.stderr.contains("collides with label \"Turing GPU\" (device slot:3)"), "\(rule.stderr)")
            #expect(rule.stderr.contains("CUSTOM_HWLABEL_TURING_GPU"))
            #expect(config.labels == saved)
        }
        // Relabelling the same device replaces its line, so its old label collides with nothing.
        let rename = try Self.hwlabel(["label", "set", "slot:3", "TURING GPU"], t4, config)
        #expect(rename.status == 0, "\(rename.stderr)")
        #expect(config.labels.contains("device slot:3 \(Self.t4Fields) = TURING GPU\n"))
        // The same label on another device is no collision.
        #expect(try Self.hwlabel(["label", "rule", "add", "--vendor", "10de", "--device", "2236", "TURING GPU"], t4, config).status == 0)
    }

    @Test("a hand-edited labels.conf that already holds colliding labels still loads: every device keeps its label")
    func handEditedCollisionLoads() throws {
        let config = try Config()
        let t4 = try Self.tree(.t4)
        defer { t4.cleanup() }
        try "device slot:3 = turing gpu\nrule vendor=10de = Turing GPU\n".write(
            toFile: config.dir + "/labels.conf", atomically: true, encoding: .utf8)
        let (descriptors, stderr) = try Self.inventory(t4, config)
        #expect((descriptors["0000:01:00.0"]?["label"] as? [String: Any])?["name"] as? String == "turing gpu")
        #expect(
            stderr.contains(
                "warning: labels \"turing gpu\" (device slot:3) and \"Turing GPU\" (rule vendor=10de) in labels.conf both export as Placement trait CUSTOM_HWLABEL_TURING_GPU"
            ),
            "\(stderr)")
        // A new label is checked against both.
        let r = try Self.hwlabel(["label", "set", "slot:4", "TURING-GPU"], t4, config)
        #expect(r.status == 2 && r.stderr.contains("collides with label \"turing gpu\" (device slot:3)"), "\(r.stderr)")
    }

    @Test("labels that would export as hwlabel's own traits (managed, a card's identity) are refused: exit 2, nothing saved")
    func reservedTraitRefused() throws {
        let config = try Config()
        let t4 = try Self.tree(.t4)
        defer { t4.cleanup() }
        for (name, trait) in [("Managed", "CUSTOM_HWLABEL_MANAGED"), ("dev 10de 1eb8", "CUSTOM_HWLABEL_DEV_10DE_1EB8")] {
            let set = try Self.hwlabel(["label", "set", "slot:3", name], t4, config)
            #expect(set.status == 2 && set.stderr.contains("Placement trait \(trait), which hwlabel sets itself"), "\(set.stderr)")
            let rule = try Self.hwlabel(["label", "rule", "add", "--vendor", "10de", name], t4, config)
            #expect(rule.status == 2 && rule.stderr.contains(trait), "\(rule.stderr)")
            #expect(!config.labels.contains(name))
        }
        // A name that only starts like an identity trait is an ordinary label.
        #expect(try Self.hwlabel(["label", "set", "slot:3", "Dev Box"], t4, config).status == 0)
    }
}
