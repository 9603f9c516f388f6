import HWLabelProbe

/// Computes per-card instance ids that survive BIOS renumbering (and, with a serial number, slot moves).
///
/// Order: `dsn:<serial>` from the Device Serial Number capability (all-zero and all-FF serials are
/// placeholders firmware writes on many cards, so they are ignored), else `slot:<name>` from
/// `/sys/bus/pci/slots`, else `path:<domain>:<root bus>/<dev.fn of each bridge>/<dev.fn>` (stable
/// while the topology is), else `address:<BDF>`. Functions other than .0 get `.<fn>` appended,
/// SR-IOV VFs are `<PF id>/vf<index>`. An id two functions would share is not unique: those
/// functions fall back to the next source.
struct InstanceIdentifier {
    let snapshot: Snapshot

    /// `chosen`: indices into the snapshot's functions.
    func identities(for chosen: [Int]) -> [PCIAddress: InstanceIdentity] {
        typealias Candidate = (id: String, source: String)
        // Candidates of every function in the snapshot, by its index there.
        // Each function's candidates depend on the snapshot alone: built on every core.
        let all = snapshot.functions
        let candidates = Parallel.chunkedMap(all.indices, serialBelow: 512, chunkSize: 256) { i -> [Candidate] in
            let a = all[i].address
            var c: [Candidate] = []
            let suffix = a.function == 0 ? "" : ".\(a.function)"
            if let serial = all[i].capabilities?.serialNumber, Self.isUsefulSerial(serial) {
                c.append(("dsn:" + serial.lowercased() + suffix, "serial-number"))
            }
            if let slot = all[i].physicalSlot, !slot.isEmpty { c.append(("slot:" + slot + suffix, "physical-slot")) }
            if let path = upstreamPath(i) { c.append(("path:" + path, "upstream-path")) }
            c.append(("address:\(a)", "address"))
            return c
        }
        // Count each id over the whole snapshot so uniqueness does not depend on the policy.
        var counts: [String: Int] = [:]
        counts.reserveCapacity(all.count * 2)
        for list in candidates { for c in list { counts[c.id, default: 0] += 1 } }
        var result: [PCIAddress: InstanceIdentity] = [:]
        result.reserveCapacity(chosen.count)
        func base(_ a: PCIAddress) -> InstanceIdentity {
            let list = snapshot.index(of: a).map { candidates[$0] } ?? [("address:\(a)", "address")]
            let pick = list.first { counts[$0.id] == 1 } ?? list.last!
            return InstanceIdentity(id: pick.id, source: pick.source)
        }
        for i in chosen {
            let address = all[i].address
            if let pf = all[i].physicalFunction, let pfi = snapshot.index(of: pf),
                let index = all[pfi].sriov?.virtualFunctions.firstIndex(of: address)
            {
                let p = base(pf)
                result[address] = InstanceIdentity(id: p.id + "/vf\(index)", source: p.source)
            } else {
                result[address] = base(address)
            }
        }
        return result
    }

    static func isUsefulSerial(_ s: String) -> Bool {
        let digits = s.lowercased().filter(\.isHexDigit)
        return !digits.isEmpty && !digits.allSatisfy { $0 == "0" } && !digits.allSatisfy { $0 == "f" }
    }

    /// `0000:00/01.0/00.0/08.0/00.0`: the root bus, then the device.function of every bridge down
    /// to this function (`snapshot.functions[index]`). Null when the function has no known
    /// upstream bridge.
    func upstreamPath(_ index: Int) -> String? {
        let all = snapshot.functions
        guard all[index].upstreamBridge != nil else { return nil }
        var hops: [PCIAddress] = [all[index].address]
        var current = index
        while let up = all[current].upstreamBridge, !hops.contains(up) {
            hops.append(up)
            guard let next = snapshot.index(of: up) else { break }
            current = next
        }
        let top = hops.last!
        let root = hex(top.domain, 4) + ":" + hex(top.bus, 2)
        return root + "/" + hops.reversed().map { hex($0.device, 2) + "." + String($0.function, radix: 16) }.joined(separator: "/")
    }
}
