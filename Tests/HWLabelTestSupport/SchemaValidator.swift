import Foundation
import Testing

/// Validates JSON documents against the schemas in `schema/` with python3-jsonschema, as a
/// consumer would.
package enum SchemaValidator {
    package static let schema = ProbeTestSupport.packageRoot + "/schema/inventory-1.0.schema.json"

    /// Validates with python3-jsonschema (Draft 2020-12) and checks that every object's keys
    /// are sorted as emitted. Fails, never skips, when jsonschema is missing.
    package static let validator = """
        import json, sys
        try:
            import jsonschema
        except ImportError:
            print("python3 module jsonschema missing: pip install jsonschema", file=sys.stderr)
            sys.exit(2)
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        text = open(sys.argv[2]).read()
        unsorted = []
        def hook(pairs):
            keys = [k for k, _ in pairs]
            if keys != sorted(keys):
                unsorted.append(keys)
            return dict(pairs)
        doc = json.loads(text, object_pairs_hook=hook)
        if unsorted:
            print("keys not sorted:", unsorted[0], file=sys.stderr)
            sys.exit(3)
        v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:10]:
            print("/".join(map(str, e.absolute_path)), ":", e.message[:300], file=sys.stderr)
        sys.exit(1 if errors else 0)
        """

    package static func validate(
        _ json: Data, label: String, schema: String = SchemaValidator.schema,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let status = try validationStatus(json, schema: schema, sourceLocation: sourceLocation)
        #expect(status.0 != 2, "\(status.1) — run `pip install jsonschema`", sourceLocation: sourceLocation)
        #expect(status.0 == 0, "\(label) does not validate: \(status.1)", sourceLocation: sourceLocation)
    }

    /// The validator's exit status (0 valid, 1 invalid, 2 no jsonschema, 3 unsorted keys) and stderr.
    package static func validationStatus(
        _ json: Data, schema: String = SchemaValidator.schema,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (Int32, String) {
        let dir = try ProbeTestSupport.makeTemp("schema")
        defer { ProbeTestSupport.removeTemp(dir) }
        try Self.validator.write(toFile: dir + "/v.py", atomically: true, encoding: .utf8)
        try json.write(to: URL(fileURLWithPath: dir + "/doc.json"))
        let python = try #require(ProbeTestSupport.which("python3"), "python3 missing", sourceLocation: sourceLocation)
        let r = try ProbeTestSupport.run(python, [dir + "/v.py", schema, dir + "/doc.json"])
        return (r.status, r.stderr)
    }

    /// Compact JSON with every object's keys in code-point order (what the validator checks;
    /// Foundation's `.sortedKeys` orders some keys differently).
    package static func canonical(_ value: Any) throws -> Data {
        func write(_ v: Any, _ out: inout Data) throws {
            if let o = v as? [String: Any] {
                out.append(UInt8(ascii: "{"))
                for (i, k) in o.keys.sorted(by: {
                    Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value))
                }).enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(try JSONSerialization.data(withJSONObject: k, options: [.fragmentsAllowed]))
                    out.append(UInt8(ascii: ":"))
                    try write(o[k]!, &out)
                }
                out.append(UInt8(ascii: "}"))
            } else if let a = v as? [Any] {
                out.append(UInt8(ascii: "["))
                for (i, e) in a.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    try write(e, &out)
                }
                out.append(UInt8(ascii: "]"))
            } else {
                out.append(try JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]))
            }
        }
        var out = Data()
        try write(value, &out)
        return out
    }

    /// Keys schema 1.1 added, by where they sit: a 1.0 document has none of them.
}
