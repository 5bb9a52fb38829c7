// The monitor's word splitting and number parsing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmm/monitor/commands.h"

using namespace hsls;
using Words = std::vector<std::string>;

TEST_SUITE("monitor_parse") {

TEST_CASE("split_words: runs of non-blank characters") {
  CHECK(split_words("") == Words{});
  CHECK(split_words("   \t ") == Words{});
  CHECK(split_words("help") == Words{"help"});
  CHECK(split_words("info status") == Words{"info", "status"});
  CHECK(split_words("  x   0x1000\t16  ") == Words{"x", "0x1000", "16"});
  CHECK(split_words("x/i rip@1 5\r\n") == Words{"x/i", "rip@1", "5"});
  CHECK(split_words("serial hello,world!") == Words{"serial", "hello,world!"});
}

TEST_CASE("parse_number: decimal") {
  CHECK(parse_number("0") == 0u);
  CHECK(parse_number("42") == 42u);
  CHECK(parse_number("007") == 7u);
  CHECK(parse_number("18446744073709551615") == ~0ull);
}

TEST_CASE("parse_number: hex with 0x or 0X") {
  CHECK(parse_number("0x0") == 0u);
  CHECK(parse_number("0x10") == 16u);
  CHECK(parse_number("0X1f") == 31u);
  CHECK(parse_number("0xDEADbeef") == 0xdeadbeefu);
  CHECK(parse_number("0xffffffffffffffff") == ~0ull);
}

TEST_CASE("parse_number: refuses signs, garbage and overflow") {
  for (const char* bad : {"", "-1", "+1", "-0x10", "+0x10", "0x", "0X", "x10", "12abc", "abc", "0x1g", "1.5",
                          "1e3", "0x-1", "0x+1", "0x0x1", "1 2", "16 ", "0b101", "18446744073709551616",
                          "99999999999999999999", "0x10000000000000000", "0x1ffffffffffffffff"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_number(bad).has_value());
  }
}

TEST_CASE("parse_number refuses a sign after leading blanks") {
  // std::stoull skips leading whitespace before the sign check sees it, and
  // then accepts the '-' ("-1" wraps to 2^64-1).
  CHECK_FALSE(parse_number(" -1").has_value());
  CHECK_FALSE(parse_number("\t+5").has_value());
  CHECK_FALSE(parse_number(" 5").has_value());
}

}  // TEST_SUITE
