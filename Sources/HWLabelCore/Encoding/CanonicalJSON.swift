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

/// The encoder behind `CanonicalJSON`. Containers are frames on a stack; a frame is complete
/// when the `encode(to:)` that opened it returns, or when its parent is written to again.
final class StreamEncoder: Encoder {
    // One encoder per thread and no reentrancy: the runtime's exclusivity checks on these
    // (a quarter of the encoding time when on) are left to the compiler's static ones.
    @exclusivity(unchecked) var out: [UInt8] = []
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    struct Frame {
        var isObject: Bool
        /// Where its `{` or `[` is in `out`.
        var start: Int
        /// Its first member in `members` (objects).
        var memberBase: Int
        var count = 0
        var id: Int
        /// The CodingKey type its members' keys come from (nil for arrays, or when a second
        /// container of another key type joined it): the key of `orders`.
        var keyType: ObjectIdentifier?
    }
    /// An object member: `"key":value` at `start..<end` of `out`.
    struct Member {
        var key: String
        var start: Int
        var end: Int
    }
    @exclusivity(unchecked) private(set) var frames: [Frame] = []
    @exclusivity(unchecked) private var members: [Member] = []
    private var nextID = 0
    /// The frame depth the value being encoded sits at: a container it opens goes there.
    private var slot = 0
    @exclusivity(unchecked) private var scratch: [UInt8] = []
    /// The key order last seen for each CodingKey type, and its UTF-8 sort (nil: already in
    /// order). A model type emits the same keys each time, so each is sorted once per encoder.
    private var orders: [ObjectIdentifier: (keys: [String], sorted: [Int]?)] = [:]
    /// Misuse found where Codable gives no way to throw (a nested container asked of a
    /// container that is already complete); `CanonicalJSON` throws it at the end.
    var failure: EncodingError?
    /// Members of the outermost object to leave out (`CanonicalJSON.encode(_:omittingKeys:)`).
    var omittedRootKeys: Set<String> = []

    init() { out.reserveCapacity(4096) }

    /// `beginMember`/`beginElement` from a call that cannot throw: a failure is kept.
    func note(_ body: () throws -> Void) {
        do { try body() } catch let e as EncodingError { failure = failure ?? e } catch {}
    }

    /// Encodes one complete value at the end of `out`.
    func encodeValue<T: Encodable>(_ value: T) throws {
        let saved = slot
        slot = frames.count
        defer { slot = saved }
        let start = out.count
        // The types JSONEncoder writes as scalars rather than through their `Encodable` form.
        if T.self == Data.self { return write((value as! Data).base64EncodedString()) }
        if T.self == URL.self { return write((value as! URL).absoluteString) }
        if T.self == Decimal.self { return out.append(contentsOf: (value as! Decimal).description.utf8) }
        try value.encode(to: self)
        close(above: slot)
        // A value that opened no container and wrote nothing is an empty object, as JSONEncoder has it.
        if out.count == start { out.append(UInt8(ascii: "{")); out.append(UInt8(ascii: "}")) }
    }

    /// Completes every frame at index `depth` and beyond.
    func close(above depth: Int) {
        while frames.count > depth {
            let f = frames.removeLast()
            finish(f, omitting: frames.isEmpty ? omittedRootKeys : [])
        }
    }

    private func finish(_ f: Frame, omitting: Set<String>) {
        // A member ends where the next begins or its object completes (here).
        if f.isObject, members.count > f.memberBase { members[members.count - 1].end = out.count }
        layOut(f, omitting: omitting)
        members.removeSubrange(f.memberBase...)
    }

    /// The order to lay out the members of object `f` in, as offsets from its first member;
    /// nil when they already are in UTF-8 key order.
    private func sortedOrder(_ f: Frame) -> [Int]? {
        let own = members[f.memberBase...]
        guard own.count > 1 else { return nil }
        if let t = f.keyType, let cached = orders[t], cached.keys.count == own.count,
           zip(cached.keys, own).allSatisfy({ $0 == $1.key }) {
            return cached.sorted
        }
        // Few keys (tens at most): an insertion sort by UTF-8 bytes.
        var order = Array(0..<own.count)
        for i in 1..<order.count {
            let x = order[i]
            var j = i
            while j > 0, CanonicalJSON.precedes(members[f.memberBase + x].key, members[f.memberBase + order[j - 1]].key) {
                order[j] = order[j - 1]
                j -= 1
            }
            order[j] = x
        }
        let sorted: [Int]? = order.elementsEqual(0..<order.count) ? nil : order
        if let t = f.keyType { orders[t] = (own.map(\.key), sorted) }
        return sorted
    }

    private func layOut(_ f: Frame, omitting: Set<String>) {
        guard f.isObject else { return out.append(UInt8(ascii: "]")) }
        var order = sortedOrder(f)
        if !omitting.isEmpty {
            order = (order ?? Array(0..<(members.count - f.memberBase)))
                .filter { !omitting.contains(members[f.memberBase + $0].key) }
        }
        guard let order else { return out.append(UInt8(ascii: "}")) }
        scratch.removeAll(keepingCapacity: true)
        scratch.reserveCapacity(out.count - f.start + 1)
        scratch.append(UInt8(ascii: "{"))
        out.withUnsafeBufferPointer { buf in
            for (n, i) in order.enumerated() {
                if n > 0 { scratch.append(UInt8(ascii: ",")) }
                let m = members[f.memberBase + i]
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[m.start..<m.end]))
            }
        }
        scratch.append(UInt8(ascii: "}"))
        out.removeSubrange(f.start...)
        out.append(contentsOf: scratch)
    }

    /// Opens a container at `depth` (or reuses the one the current value already opened there).
    func open(object: Bool, at depth: Int, keys: ObjectIdentifier? = nil) -> (depth: Int, id: Int) {
        close(above: depth + 1)
        if frames.count > depth, frames[depth].isObject == object {
            if frames[depth].keyType != keys { frames[depth].keyType = nil }
            return (depth, frames[depth].id)
        }
        close(above: depth)
        nextID += 1
        frames.append(Frame(isObject: object, start: out.count, memberBase: members.count, id: nextID, keyType: keys))
        out.append(UInt8(ascii: object ? "{" : "["))
        return (frames.count - 1, nextID)
    }

    /// Makes frame `depth` the innermost again before it is written to; a container written to
    /// after its parent moved on cannot be placed any more.
    func resume(_ depth: Int, _ id: Int) throws {
        guard frames.count > depth, frames[depth].id == id else {
            throw EncodingError.invalidValue(id, EncodingError.Context(codingPath: [],
                debugDescription: "CanonicalJSON: a nested container was written to after its parent container moved on"))
        }
        close(above: depth + 1)
    }

    /// Starts member `key` of object frame `depth`: writes `"key":` (the previous member ends here).
    func beginMember(_ key: String, depth: Int, id: Int) throws {
        try resume(depth, id)
        if frames[depth].count > 0 {
            members[members.count - 1].end = out.count
            out.append(UInt8(ascii: ","))
        }
        frames[depth].count += 1
        members.append(Member(key: key, start: out.count, end: out.count))
        CanonicalJSON.appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
    }

    /// Starts the next element of array frame `depth`.
    func beginElement(depth: Int, id: Int) throws {
        try resume(depth, id)
        if frames[depth].count > 0 { out.append(UInt8(ascii: ",")) }
        frames[depth].count += 1
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let (depth, id) = open(object: true, at: slot, keys: ObjectIdentifier(Key.self))
        return KeyedEncodingContainer(KeyedStreamContainer<Key>(encoder: self, depth: depth, id: id))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let (depth, id) = open(object: false, at: slot)
        return UnkeyedStreamContainer(encoder: self, depth: depth, id: id)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleStreamContainer(encoder: self) }

    // Scalars, written in place.
    func writeNull() { out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c]) }
    func write(_ b: Bool) {
        if b { out.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { out.append(contentsOf: [0x66, 0x61, 0x6c, 0x73, 0x65]) }
    }
    func write(_ s: String) { CanonicalJSON.appendString(s, to: &out) }
    func write<I: FixedWidthInteger>(_ v: I) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        guard m != 0 else { return out.append(UInt8(ascii: "0")) }
        // 20 digits hold any 64-bit magnitude; wider types go through their description.
        guard I.Magnitude.bitWidth <= 64 else { return out.append(contentsOf: String(m).utf8) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            while m != 0 {
                i -= 1
                digits[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: m % 10)
                m /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }
    /// As JSONEncoder writes it: Swift's shortest round-trip form, `.0` dropped from whole
    /// numbers; NaN and infinities are not JSON.
    func write<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: F) throws {
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, EncodingError.Context(codingPath: [],
                debugDescription: "CanonicalJSON: \(v) is not a JSON number"))
        }
        let text = v.description
        out.append(contentsOf: text.hasSuffix(".0") ? text.utf8.dropLast(2) : text.utf8[...])
    }
}

struct KeyedStreamContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: StreamEncoder
    let depth: Int
    let id: Int
    var codingPath: [CodingKey] { [] }

    private func member(_ key: Key, _ body: () throws -> Void) throws {
        try encoder.beginMember(key.stringValue, depth: depth, id: id)
        try body()
    }
    mutating func encodeNil(forKey key: Key) throws { try member(key) { encoder.writeNull() } }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: String, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { try member(key) { try encoder.write(value) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { try member(key) { try encoder.write(value) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try member(key) { encoder.write(value) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try member(key) { try encoder.encodeValue(value) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        // The member stays open until this object is written to again or completes.
        encoder.note { try encoder.beginMember(key.stringValue, depth: depth, id: id) }
        let (d, i) = encoder.open(object: true, at: depth + 1, keys: ObjectIdentifier(NestedKey.self))
        return KeyedEncodingContainer(KeyedStreamContainer<NestedKey>(encoder: encoder, depth: d, id: i))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        encoder.note { try encoder.beginMember(key.stringValue, depth: depth, id: id) }
        let (d, i) = encoder.open(object: false, at: depth + 1)
        return UnkeyedStreamContainer(encoder: encoder, depth: d, id: i)
    }

    // Under the key "super", as JSONEncoder has it (`Key` need not have such a case).
    mutating func superEncoder() -> Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> Encoder { superEncoder(named: key.stringValue) }
    private func superEncoder(named key: String) -> Encoder {
        encoder.note { try encoder.beginMember(key, depth: depth, id: id) }
        return SlotEncoder(encoder: encoder, depth: depth + 1)
    }
}

struct UnkeyedStreamContainer: UnkeyedEncodingContainer {
    let encoder: StreamEncoder
    let depth: Int
    let id: Int
    var codingPath: [CodingKey] { [] }
    var count: Int { encoder.frames.count > depth && encoder.frames[depth].id == id ? encoder.frames[depth].count : 0 }

    private func element(_ body: () throws -> Void) throws {
        try encoder.beginElement(depth: depth, id: id)
        try body()
    }
    mutating func encodeNil() throws { try element { encoder.writeNull() } }
    mutating func encode(_ value: Bool) throws { try element { encoder.write(value) } }
    mutating func encode(_ value: String) throws { try element { encoder.write(value) } }
    mutating func encode(_ value: Int) throws { try element { encoder.write(value) } }
    mutating func encode(_ value: Double) throws { try element { try encoder.write(value) } }
    mutating func encode<T: Encodable>(_ value: T) throws { try element { try encoder.encodeValue(value) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        encoder.note { try encoder.beginElement(depth: depth, id: id) }
        let (d, i) = encoder.open(object: true, at: depth + 1, keys: ObjectIdentifier(NestedKey.self))
        return KeyedEncodingContainer(KeyedStreamContainer<NestedKey>(encoder: encoder, depth: d, id: i))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        encoder.note { try encoder.beginElement(depth: depth, id: id) }
        let (d, i) = encoder.open(object: false, at: depth + 1)
        return UnkeyedStreamContainer(encoder: encoder, depth: d, id: i)
    }
    mutating func superEncoder() -> Encoder {
        encoder.note { try encoder.beginElement(depth: depth, id: id) }
        return SlotEncoder(encoder: encoder, depth: depth + 1)
    }
}

/// A super-encoder: an `Encoder` whose containers open at a fixed depth of the shared stream.
struct SlotEncoder: Encoder {
    let encoder: StreamEncoder
    let depth: Int
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let (d, i) = encoder.open(object: true, at: depth, keys: ObjectIdentifier(Key.self))
        return KeyedEncodingContainer(KeyedStreamContainer<Key>(encoder: encoder, depth: d, id: i))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let (d, i) = encoder.open(object: false, at: depth)
        return UnkeyedStreamContainer(encoder: encoder, depth: d, id: i)
    }
    func singleValueContainer() -> SingleValueEncodingContainer { SingleStreamContainer(encoder: encoder) }
}

struct SingleStreamContainer: SingleValueEncodingContainer {
    let encoder: StreamEncoder
    var codingPath: [CodingKey] { [] }

    mutating func encodeNil() throws { encoder.writeNull() }
    mutating func encode(_ value: Bool) throws { encoder.write(value) }
    mutating func encode(_ value: String) throws { encoder.write(value) }
    mutating func encode(_ value: Double) throws { try encoder.write(value) }
    mutating func encode(_ value: Float) throws { try encoder.write(value) }
    mutating func encode(_ value: Int) throws { encoder.write(value) }
    mutating func encode(_ value: Int8) throws { encoder.write(value) }
    mutating func encode(_ value: Int16) throws { encoder.write(value) }
    mutating func encode(_ value: Int32) throws { encoder.write(value) }
    mutating func encode(_ value: Int64) throws { encoder.write(value) }
    mutating func encode(_ value: UInt) throws { encoder.write(value) }
    mutating func encode(_ value: UInt8) throws { encoder.write(value) }
    mutating func encode(_ value: UInt16) throws { encoder.write(value) }
    mutating func encode(_ value: UInt32) throws { encoder.write(value) }
    mutating func encode(_ value: UInt64) throws { encoder.write(value) }
    /// A value in a single-value container is this slot's value: encoded in place
    /// (`Nullable` and other wrappers pass straight through), its containers opening where
    /// the stream is now (a super-encoder's slot included).
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
}
