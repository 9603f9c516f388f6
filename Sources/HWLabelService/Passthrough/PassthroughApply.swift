import Foundation
import HWLabelCore
import HWLabelProbe

/// `hwlabel passthrough apply`: binds recorded devices to VFIO again (after a reboot, or when
/// the udev rule runs it for a device being added), each only after its identity is asserted.
///
/// For each record (all, or those covering the given addresses) the device is found by its
/// recorded instance id; when the card there is not the one recorded, nothing is written for it
/// and the drift is reported. Otherwise `enable` is planned for it, with its recorded named
/// group members, and run through the same executor (a device already on VFIO plans no write).
/// udev runs it for every PCI device added, so when no record can concern the given addresses
/// (by recorded address, or by vendor and device ID read from their `vendor` and `device`
/// files) it returns without scanning the machine.
public enum PassthroughApply {
    public enum Outcome: Sendable, Hashable {
        /// No function has the recorded instance id: nothing to do.
        case absent
        /// Another card is at the recorded instance: not bound.
        case drift(IdentityDrift)
        case refused([PassthroughRefusal])
        case planned(PassthroughPlan, [PassthroughOperation])
        case ran(PassthroughPlan, PassthroughExecutor.Result)
    }

    public struct Entry: Sendable, Hashable {
        public var record: PassthroughRecord
        /// Where the recorded instance is now (nil: absent).
        public var address: PCIAddress?
        public var outcome: Outcome
    }

    public struct Report: Sendable, Hashable {
        public var entries: [Entry]
        /// False when the quick check found no record that could concern the addresses.
        public var scanned: Bool
        /// False when a device drifted, was refused, or failed to bind.
        public var succeeded: Bool {
            entries.allSatisfy {
                switch $0.outcome {
                case .absent, .planned: true
                case .drift, .refused: false
                case .ran(_, let r): r.succeeded
                }
            }
        }
    }

    /// Applies `records` (only those covering `addresses`, when any are given). `planner` is
    /// asked for only when a scan is needed.
    public static func run(
        records: [PassthroughRecord], addresses: [PCIAddress], sysRoot: String, dryRun: Bool, executor: PassthroughExecutor,
        planner: () throws -> PassthroughPlanner
    ) rethrows -> Report {
        guard !records.isEmpty, addresses.isEmpty || mayConcern(addresses, records: records, sysRoot: sysRoot) else {
            return Report(entries: [], scanned: false)
        }
        let planner = try planner()
        let locator = PassthroughRecordLocator(snapshot: planner.snapshot)
        var entries: [Entry] = []
        for r in records {
            let place = locator.locate(r)
            if !addresses.isEmpty {
                let at: PCIAddress? =
                    switch place {
                    case .present(let a), .drift(let a, _): a
                    case .absent: nil
                    }
                guard let at, !Set(locator.addresses(r, at: at)).isDisjoint(with: addresses) else { continue }
            }
            switch place {
            case .absent:
                entries.append(Entry(record: r, address: nil, outcome: .absent))
            case .drift(let a, let d):
                entries.append(Entry(record: r, address: a, outcome: .drift(d)))
            case .present(let a):
                let outcome: Outcome
                switch planner.enable(locator.applyTargets(r, at: a)) {
                case .refused(let why):
                    outcome = .refused(why)
                case .plan(let plan):
                    outcome =
                        dryRun
                        ? .planned(plan, PassthroughExecutor.operations(for: plan, reading: executor.host)) : .ran(plan, executor.run(plan))
                }
                entries.append(Entry(record: r, address: a, outcome: outcome))
            }
        }
        return Report(entries: entries, scanned: true)
    }

    /// Whether any record could be about one of `addresses`: one recorded there, or one whose
    /// vendor and device IDs are those in the address's `vendor` and `device` files.
    public static func mayConcern(_ addresses: [PCIAddress], records: [PassthroughRecord], sysRoot: String) -> Bool {
        var recordedAt = Set<PCIAddress>()
        var ids = Set<String>()
        for r in records {
            recordedAt.insert(r.address)
            ids.insert("\(r.identity.vendor):\(r.identity.device)")
            for m in r.members {
                recordedAt.insert(m.address)
                ids.insert("\(m.identity.vendor):\(m.identity.device)")
            }
        }
        for a in addresses {
            if recordedAt.contains(a) { return true }
            let dir = sysRoot + "/bus/pci/devices/\(a)/"
            if let v = readID(dir + "vendor"), let d = readID(dir + "device"), ids.contains("\(v):\(d)") { return true }
        }
        return false
    }

    /// `0x10de\n` → `10de`.
    static func readID(_ path: String) -> String? {
        guard let bytes = try? BoundedFile.readIfPresent(path, limit: 64) else { return nil }
        var s = Substring(String(decoding: bytes, as: UTF8.self).lowercased())
        while let l = s.last, l == "\n" || l == " " { s = s.dropLast() }
        if s.hasPrefix("0x") { s = s.dropFirst(2) }
        return s.count == 4 && s.allSatisfy(\.isHexDigit) ? String(s) : nil
    }
}
