import Foundation
import Glibc

/// Compact JSON with keys sorted by their UTF-8 bytes and slashes unescaped: byte-for-byte what
/// `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]` writes, and, for hwlabel's models
/// (no floating-point values), what Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes. Every
/// inventory, report, outbox and state file is encoded here, and every digest is taken over it.
///
/// As JSONEncoder has it: a whole-number double is written without `.0` (`1`, `-0`), NaN and
/// infinities are an error, `Data` is base64, `URL` its absolute string, `Decimal` a number, and
/// `Date` its `Encodable` form (seconds since 2001 as a double).
///
/// Unlike JSONEncoder it builds no boxed tree and casts only those three types (by metatype), so
/// the hot path is appends into one buffer.
///
/// It writes straight into one byte buffer as Codable hands it values (no tree of nodes, no
/// array per scalar); an object whose keys arrived out of order is re-laid in key order once
/// it is complete. `codingPath` is not tracked (always empty).
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        try encode(value, omittingKeys: [])
    }

    /// `value` with the members of its top-level object named in `omittingKeys` left out (a
    /// digest over every field but a few). Nested objects keep all their members.
    public static func encode<T: Encodable>(_ value: T, omittingKeys: Set<String>) throws -> [UInt8] {
        let encoder = StreamEncoder()
        encoder.omittedRootKeys = omittingKeys
        try encoder.encodeValue(value)
        if let f = encoder.failure { throw f }
        return encoder.out
    }

    /// The elements of `items` as they appear inside a JSON array, `e1,e2,…` (no brackets),
    /// encoded into one buffer.
    public static func encodeElements<C: Collection>(_ items: C) throws -> [UInt8] where C.Element: Encodable {
        let encoder = StreamEncoder()
        if let direct = C.Element.self as? any DirectCanonicalJSON.Type {
            try direct.writeElements(items, to: encoder)
            if let f = encoder.failure { throw f }
            return encoder.out
        }
        var first = true
        for item in items {
            if !first { encoder.out.append(UInt8(ascii: ",")) }
            first = false
            try encoder.encodeValue(item)
        }
        if let f = encoder.failure { throw f }
        return encoder.out
    }

    /// UTF-8 byte order of two keys (memcmp over contiguous UTF-8; coding keys always are).
    static func precedes(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y -> Bool in
                let n = min(x.count, y.count)
                let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                return c != 0 ? c < 0 : x.count < y.count
            }
        }
        if let fast, let less = fast { return less }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        out.append(0x22)
        // Runs of bytes that need no escape (nearly all of them) are copied in one append.
        s.withUTF8 { bytes in
            var run = 0
            for i in bytes.indices {
                let b = bytes[i]
                guard b < 0x20 || b == 0x22 || b == 0x5c else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i]))
                run = i + 1
                switch b {
                case 0x22: out.append(0x5c); out.append(0x22)
                case 0x5c: out.append(0x5c); out.append(0x5c)
                case 0x0a: out.append(0x5c); out.append(UInt8(ascii: "n"))
                case 0x0d: out.append(0x5c); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5c); out.append(UInt8(ascii: "t"))
                case 0x08: out.append(0x5c); out.append(UInt8(ascii: "b"))
                case 0x0c: out.append(0x5c); out.append(UInt8(ascii: "f"))
                default:
                    let digits = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(b >> 4)], digits[Int(b & 0xf)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(0x22)
    }
}
