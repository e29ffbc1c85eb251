// SPDX-License-Identifier: Apache-2.0
// Unit tests of the code-open rules (policy/code_rules.hpp): what a file is, who
// opens it, and when that open runs code that is not the image's.
#include <doctest/doctest.h>

#include "layerlock/policy/code_rules.hpp"

using namespace layerlock;
using policy::FileType;
using policy::Opener;

namespace {
// The shipped defaults (config::GateConfig), abridged.
const policy::CodeRules kRules{{"sh", "ash", "bash", "python*", "perl*", "node"}, {".sh", ".py", ".pl", ".js"}};
std::string argv(std::initializer_list<const char*> args) {
    std::string out;
    for (const char* a : args) out += std::string(a) + '\0';
    return out;
}
}  // namespace

TEST_CASE("file_type reads ELF and #! from the first bytes, anything else is other") {
    CHECK(policy::file_type("\x7f" "ELF\x02\x01\x01") == FileType::Elf);
    CHECK(policy::file_type("#!/bin/sh\n") == FileType::Shebang);
    CHECK(policy::file_type("echo hi\n") == FileType::Other);
    CHECK(policy::file_type("") == FileType::Other);
    CHECK(policy::file_type("\x7f" "EL") == FileType::Other);   // too short to be an ELF object
}

TEST_CASE("interpreters are told by comm or executable name, busybox applets by comm") {
    CHECK(policy::is_interpreter("sh", "busybox", kRules));
    CHECK(policy::is_interpreter("python3", "python3.11", kRules));
    CHECK(policy::is_interpreter("x", "perl5.36.0", kRules));
    CHECK_FALSE(policy::is_interpreter("cat", "busybox", kRules));
    CHECK_FALSE(policy::is_interpreter("nginx", "nginx", kRules));
    CHECK(policy::is_loader("ld-linux-x86-64.so.2"));
    CHECK(policy::is_loader("ld-musl-x86_64.so.1"));
    CHECK_FALSE(policy::is_loader("libc.so.6"));
}

TEST_CASE("script extensions are matched on the file name only") {
    CHECK(policy::has_script_extension("/tmp/x.sh", kRules));
    CHECK(policy::has_script_extension("/app/mod.py", kRules));
    CHECK_FALSE(policy::has_script_extension("/tmp/x.sh/data", kRules));
    CHECK_FALSE(policy::has_script_extension("/tmp/.sh", kRules));   // a hidden file, not an extension
    CHECK_FALSE(policy::has_script_extension("/var/log/app.log", kRules));
}

TEST_CASE("the script argument is the interpreter's first operand, absolute or relative to its cwd") {
    CHECK(policy::argv_names(argv({"sh", "/tmp/payload"}), "/", "/tmp/payload"));
    CHECK(policy::argv_names(argv({"sh", "-x", "payload"}), "/tmp", "/tmp/payload"));
    CHECK(policy::argv_names(argv({"python3", "../tmp/./x.py", "data.csv"}), "/app", "/tmp/x.py"));
    // A data file given to a script is the script's argument, not code.
    CHECK_FALSE(policy::argv_names(argv({"python3", "tool.py", "/tmp/data.csv"}), "/", "/tmp/data.csv"));
    // Code on the command line: no argument is a script.
    CHECK_FALSE(policy::argv_names(argv({"sh", "-c", "cat $0", "/tmp/payload"}), "/", "/tmp/payload"));
    CHECK_FALSE(policy::argv_names(argv({"sh", "-ec", "x", "/tmp/payload"}), "/", "/tmp/payload"));
    CHECK_FALSE(policy::argv_names(argv({"python3", "-m", "http.server", "/tmp/payload"}), "/", "/tmp/payload"));
    CHECK_FALSE(policy::argv_names(argv({"sh"}), "/", "/tmp/payload"));
    CHECK_FALSE(policy::argv_names(argv({"/tmp/payload"}), "/", "/tmp/payload"));   // argv[0] is not an operand
}

TEST_CASE("an ELF object opened by anyone is code: library, or binary when the loader runs it") {
    auto lib = policy::classify_open(FileType::Elf, false, Opener{});
    REQUIRE(lib);
    CHECK(lib->kind == policy::CodeKind::Library);
    CHECK(lib->severity == model::Severity::Critical);
    auto prog = policy::classify_open(FileType::Elf, false, Opener{.loader = true});
    REQUIRE(prog);
    CHECK(prog->kind == policy::CodeKind::Binary);
    CHECK(prog->reason == policy::Reason::RunByLoader);
}

TEST_CASE("a script is code only when an interpreter reads it") {
    const Opener interp{.interpreter = true};
    CHECK_FALSE(policy::classify_open(FileType::Shebang, true, Opener{}));          // cat /tmp/x.sh
    CHECK(policy::classify_open(FileType::Shebang, false, interp)->reason == policy::Reason::ScriptRead);
    CHECK(policy::classify_open(FileType::Other, true, interp)->reason == policy::Reason::ScriptSource);   // sh /tmp/x.sh
    CHECK(policy::classify_open(FileType::Other, false, Opener{.interpreter = true, .names_file = true})->kind ==
          policy::CodeKind::Script);                                                                        // sh /tmp/payload
    CHECK_FALSE(policy::classify_open(FileType::Other, false, interp));             // a shell reading data
    CHECK_FALSE(policy::classify_open(FileType::Other, true, Opener{}));            // a web server serving x.js
    CHECK(policy::classify_open(FileType::Other, true, interp)->severity == model::Severity::High);
}
