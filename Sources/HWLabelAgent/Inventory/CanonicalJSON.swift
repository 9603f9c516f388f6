import Glibc

/// Compact JSON with keys sorted by their UTF-8 bytes and slashes unescaped: byte-for-byte what
/// `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]` writes for hwlabel's models, and
/// what Python's `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes.
///
/// Why not JSONEncoder: it checks every value against Date, Data, URL and Decimal with dynamic
/// casts and builds a boxed tree; on a 1,000-function host that was most of `inventory`'s run
/// time. This encoder knows only what the models use: objects, arrays, strings, integers,
/// booleans, null (and doubles, written as Swift prints them).
public enum CanonicalJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = NodeEncoder()
        try value.encode(to: encoder)
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        (encoder.node ?? .object(ObjectNode())).write(to: &out)
        return out
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

/// A value being built. Containers are reference types because Codable hands out a container
/// first and fills it afterwards.
enum Node {
    case scalar([UInt8])
    case object(ObjectNode)
    case array(ArrayNode)
    /// A super-encoder's value, read when the tree is written.
    case deferred(NodeEncoder)

    func write(to out: inout [UInt8]) {
        switch self {
        case .scalar(let bytes): out.append(contentsOf: bytes)
        case .deferred(let e): (e.node ?? .object(ObjectNode())).write(to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, n) in a.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                n.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            // Keys in UTF-8 byte order (Codable writes each key once).
            let order = o.keys.indices.sorted { CanonicalJSON.precedes(o.keys[$0], o.keys[$1]) }
            for (n, i) in order.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                CanonicalJSON.appendString(o.keys[i], to: &out)
                out.append(UInt8(ascii: ":"))
                o.values[i].write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

final class ObjectNode {
    var keys: [String] = []
    var values: [Node] = []
    func set(_ key: String, _ node: Node) {
        keys.append(key)
        values.append(node)
    }
}

final class ArrayNode {
    var items: [Node] = []
}

final class NodeEncoder: Encoder {
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: Node?

    init(codingPath: [CodingKey] = []) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: ObjectNode
        if case .object(let o)? = node { object = o } else {
            object = ObjectNode()
            node = .object(object)
        }
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let array: ArrayNode
        if case .array(let a)? = node { array = a } else {
            array = ArrayNode()
            node = .array(array)
        }
        return UnkeyedNodeContainer(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleNodeContainer(encoder: self) }

    /// Encodes a nested value with a child encoder (no dynamic casts: String, Int and Bool
    /// come back through the single-value container's concrete overloads).
    static func node<T: Encodable>(for value: T, path: [CodingKey]) throws -> Node {
        let child = NodeEncoder(codingPath: path)
        try value.encode(to: child)
        return child.node ?? .object(ObjectNode())
    }

    static func scalar(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        CanonicalJSON.appendString(s, to: &out)
        return out
    }
    static let null = Array("null".utf8)
}

struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectNode
    var codingPath: [CodingKey]

    mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .scalar(NodeEncoder.null)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array((value ? "true" : "false").utf8))) }
    mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .scalar(NodeEncoder.scalar(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array("\(value)".utf8))) }
    mutating func encode(_ value: Float, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array("\(value)".utf8))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .scalar(Array(String(value).utf8))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try NodeEncoder.node(for: value, path: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = ObjectNode()
        object.set(key.stringValue, .object(child))
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(object: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let child = ArrayNode()
        object.set(key.stringValue, .array(child))
        return UnkeyedNodeContainer(array: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> Encoder { superEncoder(forKey: Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> Encoder {
        let child = NodeEncoder(codingPath: codingPath + [key])
        object.set(key.stringValue, .deferred(child))
        return child
    }
}

struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let array: ArrayNode
    var codingPath: [CodingKey]
    var count: Int { array.items.count }

    mutating func encodeNil() throws { array.items.append(.scalar(NodeEncoder.null)) }
    mutating func encode(_ value: Bool) throws { array.items.append(.scalar(Array((value ? "true" : "false").utf8))) }
    mutating func encode(_ value: String) throws { array.items.append(.scalar(NodeEncoder.scalar(value))) }
    mutating func encode(_ value: Int) throws { array.items.append(.scalar(Array(String(value).utf8))) }
    mutating func encode(_ value: Double) throws { array.items.append(.scalar(Array("\(value)".utf8))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        array.items.append(try NodeEncoder.node(for: value, path: codingPath))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = ObjectNode()
        array.items.append(.object(child))
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(object: child, codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let child = ArrayNode()
        array.items.append(.array(child))
        return UnkeyedNodeContainer(array: child, codingPath: codingPath)
    }
    mutating func superEncoder() -> Encoder {
        let child = NodeEncoder(codingPath: codingPath)
        array.items.append(.deferred(child))
        return child
    }
}

struct SingleNodeContainer: SingleValueEncodingContainer {
    let encoder: NodeEncoder
    var codingPath: [CodingKey] { encoder.codingPath }

    private func set(_ bytes: [UInt8]) { encoder.node = .scalar(bytes) }
    mutating func encodeNil() throws { set(NodeEncoder.null) }
    mutating func encode(_ value: Bool) throws { set(Array((value ? "true" : "false").utf8)) }
    mutating func encode(_ value: String) throws { set(NodeEncoder.scalar(value)) }
    mutating func encode(_ value: Double) throws { set(Array("\(value)".utf8)) }
    mutating func encode(_ value: Float) throws { set(Array("\(value)".utf8)) }
    mutating func encode(_ value: Int) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: Int8) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: Int16) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: Int32) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: Int64) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt8) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt16) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt32) throws { set(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt64) throws { set(Array(String(value).utf8)) }
    /// A value in a single-value container is this encoder's value: encode it in place (no
    /// child encoder; `Nullable` and other wrappers pass straight through).
    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: encoder)
    }
}
