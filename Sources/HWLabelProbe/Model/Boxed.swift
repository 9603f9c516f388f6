/// `Nullable`, with the value kept in a shared, immutable heap box: a function's large,
/// mostly absent facts (capabilities, GPU, link, SR-IOV) take one pointer in `PCIFunction`
/// instead of their whole size. A scan holds ten thousand functions, and every copy of one (the
/// descriptor builder's working set) paid for the full inline size: 912 bytes, 8 MiB at 10,000.
/// Same JSON as `Nullable` (an explicit `null`), same equality and hash as the value.
@propertyWrapper
public struct NullableBox<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    private var box: Box<Value>?
    public var wrappedValue: Value? {
        get { box?.value }
        set { box = newValue.map(Box.init) }
    }
    public init(wrappedValue: Value?) { box = wrappedValue.map(Box.init) }
    /// The wrapper itself (`$name`): assigning one shares its box instead of making another.
    public var projectedValue: NullableBox<Value> {
        get { self }
        set { self = newValue }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        box = c.decodeNil() ? nil : Box(try c.decode(Value.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let box { try c.encode(box.value) } else { try c.encodeNil() }
    }

    public static func == (a: Self, b: Self) -> Bool { a.wrappedValue == b.wrappedValue }
    public func hash(into h: inout Hasher) { h.combine(wrappedValue) }
}

/// A value that is always present, kept in a shared, immutable heap box (see `NullableBox`).
/// Encodes as the value itself.
@propertyWrapper
public struct Boxed<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    private var box: Box<Value>
    public var wrappedValue: Value {
        get { box.value }
        set { box = Box(newValue) }
    }
    public init(wrappedValue: Value) { box = Box(wrappedValue) }
    /// The wrapper itself (`$name`): assigning one shares its box instead of making another.
    public var projectedValue: Boxed<Value> {
        get { self }
        set { self = newValue }
    }

    public init(from decoder: Decoder) throws {
        box = Box(try decoder.singleValueContainer().decode(Value.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(box.value)
    }

    public static func == (a: Self, b: Self) -> Bool { a.wrappedValue == b.wrappedValue }
    public func hash(into h: inout Hasher) { h.combine(wrappedValue) }
}

/// Never mutated once made: copies of a function share it, and a write makes a new one.
final class Box<Value: Sendable>: Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as unknown, as for `Nullable`.
    public func decode<V>(_ type: NullableBox<V>.Type, forKey key: Key) throws -> NullableBox<V> {
        try decodeIfPresent(type, forKey: key) ?? NullableBox(wrappedValue: nil)
    }
}
