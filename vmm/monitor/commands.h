// The monitor's commands: one line in, one JSON reply out. A reply is
// {"ok":true,...} or {"ok":false,"error":"..."}; a "text" member, when
// present, is the human-readable form the terminal prints.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace hsls {

class Machine;

// Runs one command line against the machine. Never throws: a bad or unknown
// command gets an error reply and changes nothing.
nlohmann::json run_command(Machine& machine, const std::string& line);

// Splits a command line into words (runs of non-blank characters).
std::vector<std::string> split_words(const std::string& line);

}  // namespace hsls
