import HWLabelProbe

/// `LabelSet.resolve` for a whole scan: the instance labels and rules indexed once, so labelling
/// n functions against m labels and rules costs n + m, not n × m (a labels.conf may hold 100k
/// rules, a host 10,000 functions). Same answers, same precedence, same rule order.
public struct LabelResolver: Sendable {
    let labels: LabelSet
    /// Instance labels by key as written (`dsn:…`, `slot:…`) and by the address an address key names.
    let byKey: [String: [Int]]
    let byAddress: [PCIAddress: [Int]]
    /// Rule positions by `vendor:device`, and by vendor for rules without a device.
    let byVendorDevice: [String: [Int]]
    let byVendor: [String: [Int]]

    public init(_ labels: LabelSet) {
        self.labels = labels
        var byKey: [String: [Int]] = [:], byAddress: [PCIAddress: [Int]] = [:]
        for (i, l) in labels.instanceLabels.enumerated() {
            if l.key.hasPrefix("address:"), let a = PCIAddress(l.key.dropFirst("address:".count)) {
                byAddress[a, default: []].append(i)
            } else if let a = PCIAddress(l.key) {
                byAddress[a, default: []].append(i)
            }
            byKey[l.key, default: []].append(i)
        }
        var byVendorDevice: [String: [Int]] = [:], byVendor: [String: [Int]] = [:]
        for (i, r) in labels.rules.enumerated() {
            if let d = r.device {
                byVendorDevice[r.vendor + ":" + d, default: []].append(i)
            } else {
                byVendor[r.vendor, default: []].append(i)
            }
        }
        self.byKey = byKey
        self.byAddress = byAddress
        self.byVendorDevice = byVendorDevice
        self.byVendor = byVendor
    }

    /// The instance labels that match, in file order.
    func instanceHits(_ instance: InstanceIdentity, _ address: PCIAddress) -> [InstanceLabel] {
        Set((byKey[instance.id] ?? []) + (byAddress[address] ?? [])).sorted().map { labels.instanceLabels[$0] }
    }

    /// The rules that match, in file order.
    func ruleHits(_ f: PCIFunction) -> [LabelRule] {
        let candidates = (byVendorDevice[f.vendor + ":" + f.device] ?? []) + (byVendor[f.vendor] ?? [])
        return candidates.sorted().map { labels.rules[$0] }.filter { $0.matches(f) }
    }

    public func resolve(_ f: PCIFunction, instance: InstanceIdentity) -> LabelSet.Resolution {
        labels.resolve(f, instance: instance, instanceHits: instanceHits(instance, f.address), ruleHits: ruleHits(f))
    }

    /// The instance labels that no device in `devices` carries (a typo, or a card that left).
    public func unmatched(_ devices: [AssignableDevice]) -> [InstanceLabel] {
        var ids = Set<String>(), addresses = Set<PCIAddress>()
        for d in devices { ids.insert(d.instance.id); addresses.insert(d.address) }
        return labels.instanceLabels.filter { l in
            if ids.contains(l.key) { return false }
            if let a = addressOf(l), addresses.contains(a) { return false }
            return true
        }
    }

    func addressOf(_ l: InstanceLabel) -> PCIAddress? {
        if l.key.hasPrefix("address:") { return PCIAddress(l.key.dropFirst("address:".count)) }
        return PCIAddress(l.key)
    }
}
