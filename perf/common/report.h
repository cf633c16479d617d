// The nccl-tests table (same header lines, columns, widths and footer as all_reduce_perf) and
// the optional JSON copy of its rows. Only the rank that was built with print = true writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace torc::perf {

struct Measurement {
  double timeUs = 0;    // combined across ranks as -a says; mean of the timed iterations
  double medianUs = 0;  // median iteration, combined the same way (JSON only)
  double algBw = 0;     // GB/s
  double busBw = 0;     // GB/s
  int64_t wrong = -1;   // wrong elements summed over ranks; -1 when not checked
};

struct Row {
  size_t bytes = 0;
  size_t count = 0;
  std::string type;
  std::string redop;
  int root = -1;
  Measurement outOfPlace;
  Measurement inPlace;
};

class Report {
 public:
  explicit Report(bool print) : print_(print) {}

  // A comment line above the table; "# " is prepended.
  void comment(const std::string& text);
  void tableHeader();
  void row(const Row& r);
  // minBw < 0: no threshold was set. Returns the average bus bandwidth over all rows.
  double footer(int64_t wrong, double minBw);

  // Extra top-level JSON members; the value must already be JSON ("3", "\"x\"", "[...]").
  void addMeta(const std::string& key, const std::string& jsonValue) { meta_.emplace_back(key, jsonValue); }
  bool writeJson(const std::string& path, std::string* error) const;

  static std::string jsonQuote(const std::string& s);

 private:
  bool print_;
  std::vector<Row> rows_;
  std::vector<std::pair<std::string, std::string>> meta_;
  int64_t wrong_ = 0;
  double avgBusBw_ = 0;
};

}  // namespace torc::perf
