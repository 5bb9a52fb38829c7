// The monitor's word splitting and number parsing, and the argument parsing
// of `serial` and `powerfail`.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "vmm/monitor/commands.h"
#include "vmm/monitor/commands_parse.h"

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
  CHECK(parse_number("010") == 10u);  // not octal
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

TEST_CASE("serial_text: the text after the command word, by position") {
  // Found with line.find(words[1]), "e" matched inside "serial": it sent "erial e".
  CHECK(serial_text("serial e") == "e");
  CHECK(serial_text("serial s") == "s");
  CHECK(serial_text("serial serial") == "serial");
  CHECK(serial_text("serial ial x") == "ial x");
  CHECK(serial_text("serial ledger verify") == "ledger verify");
  CHECK(serial_text("  serial \t ledger   verify") == "ledger   verify");  // inner blanks are the guest's
  CHECK(serial_text("serial x ") == "x ");
  CHECK_FALSE(serial_text("serial").has_value());
  CHECK_FALSE(serial_text("serial   \t").has_value());
  CHECK_FALSE(serial_text("").has_value());
}

namespace {

// The refusal parse_powerfail gives ("" if it accepts).
std::string powerfail_refusal(const std::vector<std::string>& words) {
  auto r = parse_powerfail(words, false);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

PowerfailArgs powerfail_args(const std::vector<std::string>& words, bool restart = false) {
  auto r = parse_powerfail(words, restart);
  REQUIRE(std::holds_alternative<PowerfailArgs>(r));
  return std::get<PowerfailArgs>(r);
}

}  // namespace

TEST_CASE("parse_delay_ms: decimal milliseconds, 0 to an hour") {
  CHECK(parse_delay_ms("0") == 0.0);
  CHECK(parse_delay_ms("250") == 250.0);
  CHECK(parse_delay_ms("0.5") == 0.5);
  CHECK(parse_delay_ms(".5") == 0.5);
  CHECK(parse_delay_ms("3600000") == 3.6e6);
  for (const char* bad : {"", ".", "5.", "-1", "-0", "+5", "1e3", "0x10", "inf", "INF", "infinity", "nan", "NaN",
                          " 5", "5 ", "5ms", "3600000.1", "1.2.3", "99999999999999999999999999999999999999999"}) {
    std::string text = bad;
    CAPTURE(text);
    CHECK_FALSE(parse_delay_ms(bad).has_value());
  }
}

TEST_CASE("parse_powerfail: after= needs a number") {
  // "after=" with nothing was taken as 0 ms.
  for (const char* bad : {"after=", "after=x", "after=-5", "after=nan", "after=inf", "after=1e400", "after=5ms",
                          "after=3600001", "after= 5"}) {
    std::string arg = bad;
    CAPTURE(arg);
    std::string why = powerfail_refusal({"powerfail", bad});
    CHECK(why.find("powerfail: '" + std::string(bad) + "' is not a delay") == 0);
    CHECK(why.find('\n') == std::string::npos);
  }
  auto a = powerfail_args({"powerfail", "after=250"});
  CHECK(a.after_ms == 250.0);
  CHECK_FALSE(a.point.has_value());
  CHECK_FALSE(a.restart);
  CHECK(powerfail_args({"powerfail", "restart", "after=0.5"}).after_ms == 0.5);
  CHECK(powerfail_args({"powerfail", "after=0"}).after_ms == 0.0);
}

TEST_CASE("parse_powerfail: restart, at=POINT#N, and what is refused") {
  auto now = powerfail_args({"powerfail"});
  CHECK_FALSE(now.restart);
  CHECK_FALSE(now.point.has_value());
  CHECK_FALSE(now.after_ms.has_value());
  CHECK(powerfail_args({"powerfail"}, true).restart);  // power.restart is the default
  CHECK(powerfail_args({"powerfail", "restart"}).restart);
  auto at = powerfail_args({"powerfail", "at=committed#3", "restart"});
  CHECK(at.point == nvm::CrashPoint::committed);
  CHECK(at.nth == 3);
  CHECK(at.restart);
  CHECK(powerfail_args({"powerfail", "at=stopped"}).nth == 1);
  CHECK(powerfail_refusal({"powerfail", "at=committed#0"}).find("the count after # must be 1 or more") != std::string::npos);
  CHECK(powerfail_refusal({"powerfail", "at=committed#"}).find("the count after # must be 1 or more") != std::string::npos);
  CHECK(powerfail_refusal({"powerfail", "at=nowhere"}).find("unknown crash point 'nowhere'") != std::string::npos);
  CHECK(powerfail_refusal({"powerfail", "at=stopped", "after=5"}) == "powerfail: give one of at=, at-block= and after=");
  CHECK(powerfail_refusal({"powerfail", "at-block=9", "after=5"}) == "powerfail: give one of at=, at-block= and after=");
  CHECK(powerfail_args({"powerfail", "at-block=123456789"}).at_block == 123456789u);
  CHECK(powerfail_refusal({"powerfail", "at-block="}).find("is not a block count") != std::string::npos);
  CHECK(powerfail_refusal({"powerfail", "at-block=12x"}).find("is not a block count") != std::string::npos);
  CHECK(powerfail_refusal({"powerfail", "later"}).find("unknown argument 'later'") != std::string::npos);
}

}  // TEST_SUITE
