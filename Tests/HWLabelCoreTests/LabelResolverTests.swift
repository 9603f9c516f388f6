import Foundation
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

private typealias F = DeviceFixtures

/// The indexed resolver that labels a whole scan: the same answers as `LabelSet.resolve`, and
/// linear in functions + rules.
@Suite("Agent: label resolver")
struct AgentLabelResolverTests {
    static func rules(_ n: Int) throws -> [LabelRule] {
        try (0..<n).map { i in
            // Mostly other vendors' devices, some vendor-wide and class rules, a few that match.
            switch i % 5 {
            case 0:
                try LabelRule(
                    vendor: String(format: "%04x", 0x1000 + i % 3000), device: String(format: "%04x", i % 0xffff),
                    label: F.label("Bulk \(i)"))
            case 1: try LabelRule(vendor: "8086", device: String(format: "%04x", i % 0xffff), label: F.label("Intel \(i)"))
            case 2: try LabelRule(vendor: String(format: "%04x", 0x2000 + i % 4000), label: F.label("Vendor \(i)"))
            case 3:
                try LabelRule(
                    vendor: "10de", device: "1eb8", subsystemVendor: "10de", subsystemDevice: String(format: "%04x", i % 0xffff),
                    label: F.label("T4 \(i)"))
            default:
                try LabelRule(vendor: "15b3", device: String(format: "%04x", i % 0xffff), classPrefix: "0200", label: F.label("NIC \(i)"))
            }
        }
    }

    @Test("the same label, source and diagnostics as LabelSet.resolve, conflicts and instance keys included")
    func sameAnswers() throws {
        var set = LabelSet(rules: try Self.rules(400))
        set.addRule(try LabelRule(vendor: "10de", device: "1eb8", label: F.label("Turing GPU")))
        set.addRule(try LabelRule(vendor: "15b3", classPrefix: "0200", label: F.label("Mellanox")))
        set.addRule(try LabelRule(vendor: "15b3", device: "1021", label: F.label("ConnectX-7")))
        set.setInstanceLabel(key: "dsn:11-22-33-44-55-66-77-02", label: F.label("Inference"))
        set.setInstanceLabel(key: "0000:af:00.0", label: F.label("By address"))
        set.setInstanceLabel(key: "address:0000:3b:00.0", label: F.label("By address key"))
        let functions = [
            F.t4, F.rtx6000, F.rtx8000,
            F.function("0000:5e:00.1", "15b3", "1021", class: 0x020000),
            F.function("0000:5e:00.2", "8086", "0005", class: 0x020000),
            F.function("0000:5e:00.3", "2001", "abcd", class: 0x120000),
        ]
        let resolver = LabelResolver(set)
        for f in functions {
            for instance in [
                InstanceIdentity(id: "dsn:11-22-33-44-55-66-77-02", source: "serial-number"),
                InstanceIdentity(id: "address:\(f.address)", source: "address"),
            ] {
                let want = set.resolve(f, instance: instance)
                let got = resolver.resolve(f, instance: instance)
                #expect(got == want, "\(f.address) \(instance.id)")
            }
        }
        // A conflict (a vendor-wide class rule and a device rule with different labels) is
        // reported, not resolved.
        let nic = resolver.resolve(functions[3], instance: InstanceIdentity(id: "x", source: "address"))
        #expect(nic.assignment == nil)
        #expect(nic.diagnostics.contains { $0.code == "rule-conflict" })
    }

    @Test("labelling a host is linear in rules: 5 × the rules costs under 4 × the time")
    func linear() throws {
        let functions: [PCIFunction] = (0..<2000).map { (i: Int) -> PCIFunction in
            let address = String(format: "0000:%02x:%02x.%d", i / 256, (i / 8) % 32, i % 8)
            let intel = i % 2 == 0
            return F.function(address, intel ? "8086" : "15b3", intel ? "1889" : "101e", class: 0x020000)
        }
        func time(_ n: Int) throws -> Double {
            let resolver = LabelResolver(LabelSet(rules: try Self.rules(n)))
            let start = Date()
            var labelled = 0
            for f in functions
            where resolver.resolve(f, instance: InstanceIdentity(id: "address:\(f.address)", source: "address")).assignment != nil {
                labelled += 1
            }
            _ = labelled
            return Date().timeIntervalSince(start)
        }
        let small = try time(20_000), large = try time(100_000)
        // Quadratic (every rule per function) would be 5×; linear resolution barely moves.
        // The loose bound keeps the test honest on a noisy machine without timing it.
        #expect(large < max(small * 4, 0.5), "20k rules: \(small) s, 100k rules: \(large) s")
    }
}
