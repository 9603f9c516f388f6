import Glibc

/// The kernel's IPv4 and IPv6 routing and address tables as procfs prints them:
/// `<proc>/net/route`, `<proc>/net/ipv6_route` and `<proc>/net/if_inet6`.
///
/// IPv4 addresses are not in procfs (only netlink has them), but every address with a prefix
/// puts a subnet route in the main table, which `net/route` lists.
struct ProcNet {
    struct Route: Equatable {
        /// `default` or `10.0.0.0/24`, `2001:db8::/64`.
        var destination: String
        var isDefault: Bool
    }

    /// IPv4 routes by interface (`net/route`); nil when the file could not be read.
    var ipv4Routes: [String: [Route]]?
    /// IPv6 routes by interface (`net/ipv6_route`), without `lo`; nil when unreadable.
    var ipv6Routes: [String: [Route]]?
    /// IPv6 addresses by interface with their prefix (`net/if_inet6`), without `lo`; nil when unreadable.
    var ipv6Addresses: [String: [String]]?

    /// Reads the three tables under `proc`; a file that cannot be read leaves its table nil and,
    /// unless it does not exist, adds a warning naming it.
    init(proc: String, warnings: inout [ProbeWarning]) {
        func table(_ name: String) -> String? {
            switch SysfsRoot.readWhole(proc + "/net/" + name) {
            case .success(let b): return String(decoding: b, as: UTF8.self)
            case .failure(let e):
                if e.errno != ENOENT { warnings.append(ProbeWarning(path: e.path, message: e.description)) }
                return nil
            }
        }
        if let text = table("route") { ipv4Routes = Self.parseIPv4Routes(text) }
        if let text = table("ipv6_route") { ipv6Routes = Self.parseIPv6Routes(text) }
        if let text = table("if_inet6") { ipv6Addresses = Self.parseIPv6Addresses(text) }
    }

    init(ipv4Routes: [String: [Route]]? = nil, ipv6Routes: [String: [Route]]? = nil, ipv6Addresses: [String: [String]]? = nil) {
        self.ipv4Routes = ipv4Routes
        self.ipv6Routes = ipv6Routes
        self.ipv6Addresses = ipv6Addresses
    }

    /// Interfaces that carry a default route (IPv4 or IPv6); nil when neither table was read.
    var defaultRouteInterfaces: Set<String>? {
        guard ipv4Routes != nil || ipv6Routes != nil else { return nil }
        var out = Set<String>()
        for (iface, routes) in (ipv4Routes ?? [:]).merging(ipv6Routes ?? [:], uniquingKeysWith: +)
        where routes.contains(where: \.isDefault) { out.insert(iface) }
        return out
    }

    /// What gives `iface` a place on the network, in an operator's words ("the default route",
    /// "a route to 10.0.0.0/24", "address 2001:db8::5/64"); nil when it has no route and no
    /// address beyond link-local ones.
    func reachability(of iface: String) -> String? {
        let v4 = ipv4Routes?[iface] ?? [], v6 = ipv6Routes?[iface] ?? []
        if v4.contains(where: \.isDefault) || v6.contains(where: \.isDefault) { return "the default route" }
        if let r = v4.first { return "a route to \(r.destination)" }
        if let a = ipv6Addresses?[iface]?.first { return "address \(a)" }
        if let r = v6.first { return "a route to \(r.destination)" }
        return nil
    }

    // MARK: parsing

    /// `Iface Destination Gateway Flags RefCnt Use Metric Mask …`, a header line first;
    /// addresses are the raw 32-bit value in host byte order, printed in hex.
    static func parseIPv4Routes(_ text: String) -> [String: [Route]] {
        var out: [String: [Route]] = [:]
        for line in TextLines.split(text).dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count >= 8, let dest = UInt32(f[1], radix: 16), let mask = UInt32(f[7], radix: 16) else { continue }
            let isDefault = dest == 0 && mask == 0
            let text = isDefault ? "default" : "\(ipv4(dest))/\(mask.nonzeroBitCount)"
            out[String(f[0]), default: []].append(Route(destination: text, isDefault: isDefault))
        }
        return out
    }

    /// Dotted quad of an address stored as the kernel's `__be32` read as a host-order integer.
    static func ipv4(_ raw: UInt32) -> String {
        let n = UInt32(bigEndian: raw) // the bytes in network order, most significant first
        return "\(n >> 24 & 0xff).\(n >> 16 & 0xff).\(n >> 8 & 0xff).\(n & 0xff)"
    }

    /// `dest plen src splen nexthop metric refcnt use flags dev`, 32-digit addresses. Routes
    /// inside link-local space (fe80::/10: the kernel's fe80::/64 per interface, and local
    /// /128 routes for link-local addresses) and multicast (ff00::/8) say nothing about reach.
    static func parseIPv6Routes(_ text: String) -> [String: [Route]] {
        var out: [String: [Route]] = [:]
        for line in TextLines.split(text) {
            let f = line.split(separator: " ")
            guard f.count == 10, f[0].count == 32, let plen = Int(f[1], radix: 16), f[9] != "lo" else { continue }
            let dest = f[0]
            let isDefault = plen == 0 && dest.allSatisfy { $0 == "0" }
            if !isDefault, Self.isLinkLocalOrMulticast(dest) { continue }
            let text = isDefault ? "default" : "\(ipv6(dest))/\(plen)"
            out[String(f[9]), default: []].append(Route(destination: text, isDefault: isDefault))
        }
        return out
    }

    /// `address ifindex prefixlen scope flags name`; link-local and loopback addresses are left out.
    static func parseIPv6Addresses(_ text: String) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for line in TextLines.split(text) {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 6, f[0].count == 32, let plen = Int(f[2], radix: 16), f[5] != "lo" else { continue }
            if Self.isLinkLocalOrMulticast(f[0]) || f[0] == "00000000000000000000000000000001" { continue }
            out[String(f[5]), default: []].append("\(ipv6(f[0]))/\(plen)")
        }
        return out
    }

    /// fe80::/10 or ff00::/8, from 32 hex digits.
    static func isLinkLocalOrMulticast(_ hex32: Substring) -> Bool {
        guard let first = UInt16(hex32.prefix(4), radix: 16) else { return true }
        return first & 0xffc0 == 0xfe80 || first & 0xff00 == 0xff00
    }

    /// RFC 5952 text of an address given as 32 hex digits: leading zeros dropped, the longest
    /// run of two or more zero groups written `::`.
    static func ipv6(_ hex32: Substring) -> String {
        let groups: [UInt16] = stride(from: 0, to: 32, by: 4).map { i in
            let s = hex32.index(hex32.startIndex, offsetBy: i)
            return UInt16(hex32[s..<hex32.index(s, offsetBy: 4)], radix: 16) ?? 0
        }
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        func text(_ gs: ArraySlice<UInt16>) -> String { gs.map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.length >= 2 else { return text(groups[...]) }
        return text(groups[..<best.start]) + "::" + text(groups[(best.start + best.length)...])
    }
}
