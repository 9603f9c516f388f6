/// Deterministic provider UUIDs: the same name always gets the same UUID, so a dry run prints
/// the UUIDs a real run will use and a provider hwlabel created is recognisable by its UUID.
public enum PlacementUUID {
    public static func forDevice(_ name: String) -> String { make("hwlabel-device:" + name) }
    public static func forRoot(_ name: String) -> String { make("hwlabel-root:" + name) }

    /// Two FNV-1a 64-bit hashes (different offset bases) → 128 bits, stamped as an RFC 9562
    /// version-8 (vendor-specific) UUID. Not cryptographic; it only needs to be stable and spread.
    static func make(_ text: String) -> String {
        func fnv(_ basis: UInt64) -> UInt64 {
            var h = basis
            for b in text.utf8 { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
            return h
        }
        var hi = fnv(0xcbf2_9ce4_8422_2325)
        var lo = fnv(0x84222325_cbf29ce4 ^ 0x9e37_79b9_7f4a_7c15)
        hi = (hi & ~UInt64(0xF000)) | 0x8000 // version 8
        lo = (lo & ~(UInt64(0xC) << 60)) | (UInt64(0x8) << 60) // variant 10
        let h = hex(hi, 16), l = hex(lo, 16)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }

    private static func hex(_ v: UInt64, _ width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
