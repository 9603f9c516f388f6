/// Compact JSON with keys sorted by their UTF-8 bytes and slashes unescaped: byte-for-byte what
/// `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]` writes for hwlabel's models, and
/// what Python's `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes.
///
/// Why not JSONEncoder: it checks every value against Date, Data, URL and Decimal with dynamic
/// casts and builds a boxed tree; on a 1,000-function host that was most of `inventory`'s run
/// time. This encoder streams into one byte buffer: scalars are written where they are met,
/// and an object is written out in key order once its last member is known (its members'
/// bytes are copied behind it; the buffer is scratch). It knows only what the models use:
/// objects, arrays, strings, integers, booleans, null (and doubles, as Swift prints them).
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = StreamEncoder()
        let range = try encoder.encodeValue(value)
        return Array(encoder.buffer[range])
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(0x5c); out.append(0x22)
            case 0x5c: out.append(0x5c); out.append(0x5c)
            case 0x0a: out.append(0x5c); out.append(UInt8(ascii: "n"))
            case 0x0d: out.append(0x5c); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5c); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(0x5c); out.append(UInt8(ascii: "b"))
            case 0x0c: out.append(0x5c); out.append(UInt8(ascii: "f"))
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(b >> 4)], digits[Int(b & 0xf)]])
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
}

/// Where a member's bytes are: already written, or a container still being filled.
enum Slot {
    case bytes(Range<Int>)
    case object(ObjectBuilder)
    case array(ArrayBuilder)
    /// A super-encoder's value (its own buffer), copied in when the parent is written.
    case foreign(StreamEncoder)
}

final class ObjectBuilder {
    var keys: [String] = []
    var slots: [Slot] = []
}

final class ArrayBuilder {
    var slots: [Slot] = []
}

final class StreamEncoder: Encoder {
    var buffer: [UInt8] = []
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// What the value being encoded right now produced.
    var current: Slot?

    init() { buffer.reserveCapacity(4096) }

    /// Encodes one value (each call is one frame of a stack) and returns where its bytes are.
    func encodeValue<T: Encodable>(_ value: T) throws -> Range<Int> {
        let saved = current
        current = nil
        defer { current = saved }
        try value.encode(to: self)
        return write(current)
    }

    /// Writes a finished slot contiguously (containers in key or index order) and returns it.
    func write(_ slot: Slot?) -> Range<Int> {
        switch slot {
        case nil:
            let start = buffer.count
            buffer.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "}")])
            return start..<buffer.count
        case .bytes(let r)?:
            return r
        case .foreign(let e)?:
            let bytes = Array(e.buffer[e.write(e.current)])
            let start = buffer.count
            buffer.append(contentsOf: bytes)
            return start..<buffer.count
        case .object(let o)?:
            let ranges = o.slots.map { write($0) }
            let order = o.keys.indices.sorted { o.keys[$0].utf8.lexicographicallyPrecedes(o.keys[$1].utf8) }
            let start = buffer.count
            buffer.append(UInt8(ascii: "{"))
            for (n, i) in order.enumerated() {
                if n > 0 { buffer.append(UInt8(ascii: ",")) }
                CanonicalJSON.appendString(o.keys[i], to: &buffer)
                buffer.append(UInt8(ascii: ":"))
                copyWithin(ranges[i])
            }
            buffer.append(UInt8(ascii: "}"))
            return start..<buffer.count
        case .array(let a)?:
            let ranges = a.slots.map { write($0) }
            let start = buffer.count
            buffer.append(UInt8(ascii: "["))
            for (n, r) in ranges.enumerated() {
                if n > 0 { buffer.append(UInt8(ascii: ",")) }
                copyWithin(r)
            }
            buffer.append(UInt8(ascii: "]"))
            return start..<buffer.count
        }
    }

    /// Appends `buffer[r]` to the buffer. (Appending a slice of the array to itself would keep
    /// the old storage alive and copy the whole buffer on every call.)
    private func copyWithin(_ r: Range<Int>) {
        let dst = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: r.count))
        buffer.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress, !r.isEmpty else { return }
            (base + dst).update(from: base + r.lowerBound, count: r.count)
        }
    }

    func scalar(_ text: String) -> Slot {
        let start = buffer.count
        buffer.append(contentsOf: text.utf8)
        return .bytes(start..<buffer.count)
    }

    func string(_ s: String) -> Slot {
        let start = buffer.count
        CanonicalJSON.appendString(s, to: &buffer)
        return .bytes(start..<buffer.count)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: ObjectBuilder
        if case .object(let o)? = current { object = o } else {
            object = ObjectBuilder()
            current = .object(object)
        }
        return KeyedEncodingContainer(KeyedStreamContainer<Key>(encoder: self, object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let array: ArrayBuilder
        if case .array(let a)? = current { array = a } else {
            array = ArrayBuilder()
            current = .array(array)
        }
        return UnkeyedStreamContainer(encoder: self, array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleStreamContainer(encoder: self) }
}

struct KeyedStreamContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: StreamEncoder
    let object: ObjectBuilder
    var codingPath: [CodingKey]

    private func set(_ key: Key, _ slot: Slot) {
        object.keys.append(key.stringValue)
        object.slots.append(slot)
    }
    mutating func encodeNil(forKey key: Key) throws { set(key, encoder.scalar("null")) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(key, encoder.scalar(value ? "true" : "false")) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(key, encoder.string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(key, encoder.scalar("\(value)")) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(key, encoder.scalar("\(value)")) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(key, encoder.scalar(String(value))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let path = encoder.codingPath
        encoder.codingPath = codingPath + [key]
        defer { encoder.codingPath = path }
        set(key, .bytes(try encoder.encodeValue(value)))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = ObjectBuilder()
        set(key, .object(child))
        return KeyedEncodingContainer(KeyedStreamContainer<NestedKey>(encoder: encoder, object: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let child = ArrayBuilder()
        set(key, .array(child))
        return UnkeyedStreamContainer(encoder: encoder, array: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> Encoder { superEncoder(forKey: Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> Encoder {
        let child = StreamEncoder()
        child.codingPath = codingPath + [key]
        set(key, .foreign(child))
        return child
    }
}

struct UnkeyedStreamContainer: UnkeyedEncodingContainer {
    let encoder: StreamEncoder
    let array: ArrayBuilder
    var codingPath: [CodingKey]
    var count: Int { array.slots.count }

    mutating func encodeNil() throws { array.slots.append(encoder.scalar("null")) }
    mutating func encode(_ value: Bool) throws { array.slots.append(encoder.scalar(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { array.slots.append(encoder.string(value)) }
    mutating func encode(_ value: Int) throws { array.slots.append(encoder.scalar(String(value))) }
    mutating func encode(_ value: Double) throws { array.slots.append(encoder.scalar("\(value)")) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        array.slots.append(.bytes(try encoder.encodeValue(value)))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = ObjectBuilder()
        array.slots.append(.object(child))
        return KeyedEncodingContainer(KeyedStreamContainer<NestedKey>(encoder: encoder, object: child, codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let child = ArrayBuilder()
        array.slots.append(.array(child))
        return UnkeyedStreamContainer(encoder: encoder, array: child, codingPath: codingPath)
    }
    mutating func superEncoder() -> Encoder {
        let child = StreamEncoder()
        child.codingPath = codingPath
        array.slots.append(.foreign(child))
        return child
    }
}

struct SingleStreamContainer: SingleValueEncodingContainer {
    let encoder: StreamEncoder
    var codingPath: [CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.current = encoder.scalar("null") }
    mutating func encode(_ value: Bool) throws { encoder.current = encoder.scalar(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { encoder.current = encoder.string(value) }
    mutating func encode(_ value: Double) throws { encoder.current = encoder.scalar("\(value)") }
    mutating func encode(_ value: Float) throws { encoder.current = encoder.scalar("\(value)") }
    mutating func encode(_ value: Int) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: Int8) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: Int16) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: Int32) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: Int64) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: UInt) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: UInt8) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: UInt16) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: UInt32) throws { encoder.current = encoder.scalar(String(value)) }
    mutating func encode(_ value: UInt64) throws { encoder.current = encoder.scalar(String(value)) }
    /// A value in a single-value container is this frame's value: encoded in place, so wrappers
    /// such as `Nullable` pass straight through.
    mutating func encode<T: Encodable>(_ value: T) throws { try value.encode(to: encoder) }
}
