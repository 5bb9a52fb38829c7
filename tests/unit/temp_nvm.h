// A unique NVM file path in /dev/shm for a test, removed (with its digest
// side file) at the end.
#pragma once
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

struct TempNvm {
  std::string path;
  explicit TempNvm(const char* tag) {
    static std::atomic<unsigned> n{0};
    path = "/dev/shm/hsls-unit-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" + tag + ".nvm";
    std::filesystem::remove(path);
  }
  ~TempNvm() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + ".digests", ec);
  }
  TempNvm(const TempNvm&) = delete;
  TempNvm& operator=(const TempNvm&) = delete;
  bool exists() const { return std::filesystem::exists(path); }
};
