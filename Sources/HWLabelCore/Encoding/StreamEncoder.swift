import Foundation
import Glibc
import HWLabelProbe

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
        // The arrays a report or an inventory holds thousands of: their hand-laid writers
        // (`DirectCanonicalJSON`), with no frame open below them.
        if T.self == Array<AssignableDevice>.self { return try writeDirectArray(value as! [AssignableDevice]) }
        if T.self == Array<PCIFunction>.self { return try writeDirectArray(value as! [PCIFunction]) }
        try value.encode(to: self)
        close(above: slot)
        // A value that opened no container and wrote nothing is an empty object, as JSONEncoder has it.
        if out.count == start { out.append(UInt8(ascii: "{")); out.append(UInt8(ascii: "}")) }
    }

    /// `[e1,e2,…]` through the elements' direct writer. Frames still open (the array is a
    /// member of an object being encoded) stay as they are: the writer only appends.
    private func writeDirectArray<E: DirectCanonicalJSON>(_ items: [E]) throws {
        out.append(UInt8(ascii: "["))
        try E.writeElements(items, to: self)
        out.append(UInt8(ascii: "]"))
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
            zip(cached.keys, own).allSatisfy({ $0 == $1.key })
        {
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
            throw EncodingError.invalidValue(
                id,
                EncodingError.Context(
                    codingPath: [],
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
            throw EncodingError.invalidValue(
                v,
                EncodingError.Context(
                    codingPath: [],
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

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
        NestedKey
    > {
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
