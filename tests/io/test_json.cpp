// Strict JSON reading (duplicates, depth, UTF-8, NUL) and Python-compatible JSON writing.
#include <doctest/doctest.h>

#include <string>

#include "io_test_util.hpp"
#include "llmc/io/json.hpp"

using llmc::parse_json_strict;
using llmc::python_json_dumps;

TEST_CASE("find_invalid_utf8 follows RFC 3629") {
  CHECK(llmc::find_invalid_utf8("plain ascii") == std::string_view::npos);
  CHECK(llmc::find_invalid_utf8("na\xc3\xafve \xe4\xb8\xad \xf0\x9f\x98\x80") == std::string_view::npos);
  CHECK(llmc::find_invalid_utf8("ab\xff") == 2);              // never valid
  CHECK(llmc::find_invalid_utf8("a\xc0\xaf") == 1);           // overlong '/'
  CHECK(llmc::find_invalid_utf8("a\xe0\x80\xaf") == 1);       // overlong 3-byte
  CHECK(llmc::find_invalid_utf8("\xed\xa0\x80") == 0);        // UTF-16 surrogate
  CHECK(llmc::find_invalid_utf8("\xf4\x90\x80\x80") == 0);    // above U+10FFFF
  CHECK(llmc::find_invalid_utf8("xy\xe4\xb8") == 2);          // truncated sequence
  CHECK(llmc::find_invalid_utf8("\xc3\x28") == 0);            // bad continuation
}

TEST_CASE("parse_json_strict rejects duplicate keys at any depth") {
  CHECK_IO_ERROR(parse_json_strict(R"({"a":1,"a":2})", "t"), "llmc.io.107");
  CHECK_IO_ERROR(parse_json_strict(R"({"x":{"k":1,"j":2,"k":3}})", "t"), "llmc.io.107");
  CHECK_IO_ERROR(parse_json_strict(R"([{"a":1},{"b":[{"c":1,"c":1}]}])", "t"), "llmc.io.107");
  // The same key in sibling objects is fine.
  auto j = parse_json_strict(R"({"x":{"k":1},"y":{"k":2},"z":[{"k":3},{"k":4}]})", "t");
  CHECK(j["x"]["k"] == 1);
  CHECK(j["y"]["k"] == 2);
  CHECK(j["z"][1]["k"] == 4);
}

TEST_CASE("parse_json_strict builds the same value as nlohmann's parser") {
  const std::string text =
      R"({"a":[1,-2,3.5,"s",true,false,null,{"n":{}},[]],"b":{"c":18446744073709551615,"d":-9223372036854775808},"e":"\u00e9\ud83d\ude00"})";
  CHECK(parse_json_strict(text, "t") == nlohmann::json::parse(text));
  CHECK(parse_json_strict<nlohmann::ordered_json>(text, "t") == nlohmann::ordered_json::parse(text));
}

TEST_CASE("parse_json_strict rejects syntax errors, deep nesting, NUL and invalid UTF-8") {
  CHECK_IO_ERROR(parse_json_strict(R"({"a":)", "t"), "llmc.io.106");
  CHECK_IO_ERROR(parse_json_strict(R"({"a":1} x)", "t"), "llmc.io.106");
  CHECK_IO_ERROR(parse_json_strict("", "t"), "llmc.io.106");
  CHECK_IO_ERROR(parse_json_strict(std::string("{}\0garbage", 10), "t"), "llmc.io.106");
  CHECK_IO_ERROR(parse_json_strict("{\"a\xff\":1}", "t"), "llmc.io.105");
  std::string deep(200, '[');
  deep += std::string(200, ']');
  CHECK_IO_ERROR(parse_json_strict(deep, "t"), "llmc.io.106");
  std::string ok(100, '[');
  ok += std::string(100, ']');
  CHECK(parse_json_strict(ok, "t").is_array());
  // Whitespace padding after the value (safetensors headers end with spaces) is allowed.
  CHECK(parse_json_strict("{}      ", "t").empty());
}

TEST_CASE("error messages name the source") {
  try {
    parse_json_strict(R"({"a":1,"a":2})", "/some/config.json");
    FAIL("no throw");
  } catch (const llmc::io_error& e) {
    CHECK(std::string(e.what()).find("/some/config.json") != std::string::npos);
    CHECK(std::string(e.what()).find("\"a\"") != std::string::npos);
  }
}

// The expected strings were produced by CPython 3.11: json.dumps(obj, indent=2, sort_keys=True),
// json.dumps(obj, sort_keys=True) and json.dumps(obj) for the object below (in this key order).
static const char* tricky_json =
    R"({"floats":[0.0,-0.0,1.0,1e-05,0.0001,1e16,1e15,123456789012345678.0,1.5e-7,3.14159,2.5e300,-1e-320,0.1,100.0,1e22],)"
    R"("ints":[0,-1,18446744073709551615,-9223372036854775808],)"
    R"("s":"a\"b\\c\n\t\u0001\u007f/\u00e9\u4e2d\ud83d\ude00","empty_obj":{},"empty_arr":[],)"
    R"("nested":{"b":[1,{"z":null,"a":true}],"a":false},"Z":1,"a":2,"\u00e9":3})";

TEST_CASE("python_json_dumps matches CPython json.dumps byte for byte") {
  const auto j = parse_json_strict<nlohmann::ordered_json>(tricky_json, "t");
  const std::string indented =
      "{\n  \"Z\": 1,\n  \"a\": 2,\n  \"empty_arr\": [],\n  \"empty_obj\": {},\n  \"floats\": [\n    0.0,\n    -0.0,\n"
      "    1.0,\n    1e-05,\n    0.0001,\n    1e+16,\n    1000000000000000.0,\n    1.2345678901234568e+17,\n"
      "    1.5e-07,\n    3.14159,\n    2.5e+300,\n    -1e-320,\n    0.1,\n    100.0,\n    1e+22\n  ],\n"
      "  \"ints\": [\n    0,\n    -1,\n    18446744073709551615,\n    -9223372036854775808\n  ],\n"
      "  \"nested\": {\n    \"a\": false,\n    \"b\": [\n      1,\n      {\n        \"a\": true,\n"
      "        \"z\": null\n      }\n    ]\n  },\n"
      "  \"s\": \"a\\\"b\\\\c\\n\\t\\u0001\\u007f/\\u00e9\\u4e2d\\ud83d\\ude00\",\n  \"\\u00e9\": 3\n}";
  CHECK(python_json_dumps(j, 2, true) == indented);
  const std::string flat_sorted =
      R"({"Z": 1, "a": 2, "empty_arr": [], "empty_obj": {}, "floats": [0.0, -0.0, 1.0, 1e-05, 0.0001, 1e+16, )"
      R"(1000000000000000.0, 1.2345678901234568e+17, 1.5e-07, 3.14159, 2.5e+300, -1e-320, 0.1, 100.0, 1e+22], )"
      R"("ints": [0, -1, 18446744073709551615, -9223372036854775808], "nested": {"a": false, "b": [1, {"a": true, )"
      R"("z": null}]}, "s": "a\"b\\c\n\t\u0001\u007f/\u00e9\u4e2d\ud83d\ude00", "\u00e9": 3})";
  CHECK(python_json_dumps(j, -1, true) == flat_sorted);
  const std::string flat_ordered =
      R"({"floats": [0.0, -0.0, 1.0, 1e-05, 0.0001, 1e+16, 1000000000000000.0, 1.2345678901234568e+17, 1.5e-07, )"
      R"(3.14159, 2.5e+300, -1e-320, 0.1, 100.0, 1e+22], "ints": [0, -1, 18446744073709551615, -9223372036854775808], )"
      R"("s": "a\"b\\c\n\t\u0001\u007f/\u00e9\u4e2d\ud83d\ude00", "empty_obj": {}, "empty_arr": [], )"
      R"("nested": {"b": [1, {"z": null, "a": true}], "a": false}, "Z": 1, "a": 2, "\u00e9": 3})";
  CHECK(python_json_dumps(j, -1, false) == flat_ordered);
  // nlohmann::json (sorted map) gives the same sorted output.
  CHECK(python_json_dumps(parse_json_strict(tricky_json, "t"), 2, true) == indented);
}

TEST_CASE("python float repr boundaries") {
  auto f = [](double v) {
    std::string s;
    llmc::detail::append_python_float(s, v);
    return s;
  };
  CHECK(f(1e-4) == "0.0001");       // decpt -3: fixed
  CHECK(f(1.5e-4) == "0.00015");
  CHECK(f(9.999e-5) == "9.999e-05");  // decpt -4: exponent
  CHECK(f(1e16) == "1e+16");        // decpt 17: exponent
  CHECK(f(9999999999999998.0) == "9999999999999998.0");
  CHECK(f(12345.678) == "12345.678");
  CHECK(f(-2.0) == "-2.0");
  CHECK(f(5e-324) == "5e-324");
  CHECK(f(1.7976931348623157e308) == "1.7976931348623157e+308");
}
