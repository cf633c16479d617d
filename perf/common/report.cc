#include "perf/common/report.h"

#include <cmath>
#include <cstdio>

namespace torc::perf {
namespace {

// nccl-tests' precision steps, which keep the time column 7 characters wide.
std::string formatTime(double us) {
  char buf[32];
  const char* fmt = us >= 10000.0 ? "%7.0f" : us >= 100.0 ? "%7.1f" : "%7.2f";
  std::snprintf(buf, sizeof(buf), fmt, us);
  return buf;
}

// Bandwidth in a 6-character column: fewer decimals as the value grows.
std::string formatBw(double gbs) {
  char buf[32];
  if (gbs < 1000.0) {
    std::snprintf(buf, sizeof(buf), "%6.2f", gbs);
  } else if (gbs < 10000.0) {
    std::snprintf(buf, sizeof(buf), "%6.1f", gbs);
  } else if (gbs < 1e6) {
    std::snprintf(buf, sizeof(buf), "%6.0f", gbs);
  } else {
    std::snprintf(buf, sizeof(buf), "%6.0e", gbs);
  }
  return buf;
}

std::string formatMeasurement(const Measurement& m) {
  char wrong[32];
  if (m.wrong < 0) {
    std::snprintf(wrong, sizeof(wrong), "%6s", "N/A");
  } else {
    std::snprintf(wrong, sizeof(wrong), "%6g", static_cast<double>(m.wrong));
  }
  return "  " + formatTime(m.timeUs) + "  " + formatBw(m.algBw) + "  " + formatBw(m.busBw) + "  " + wrong;
}

std::string jsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string jsonMeasurement(const Measurement& m) {
  return "{\"time\": " + jsonNumber(m.timeUs) + ", \"time_median\": " + jsonNumber(m.medianUs) +
         ", \"alg_bw\": " + jsonNumber(m.algBw) + ", \"bus_bw\": " + jsonNumber(m.busBw) +
         ", \"nwrong\": " + (m.wrong < 0 ? std::string("null") : std::to_string(m.wrong)) + "}";
}

}  // namespace

void Report::comment(const std::string& text) {
  if (print_) std::printf("# %s\n", text.c_str());
}

void Report::tableHeader() {
  if (!print_) return;
  std::printf("#\n");
  std::printf("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place\n", "", "", "", "",
              "");
  std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s\n", "size", "count", "type", "redop",
              "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
  std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s\n", "(B)", "(elements)", "", "", "",
              "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)");
  std::fflush(stdout);
}

void Report::row(const Row& r) {
  rows_.push_back(r);
  if (!print_) return;
  std::printf("%12zu  %12zu  %8s  %6s  %6d%s%s\n", r.bytes, r.count, r.type.c_str(), r.redop.c_str(), r.root,
              formatMeasurement(r.outOfPlace).c_str(), formatMeasurement(r.inPlace).c_str());
  std::fflush(stdout);
}

double Report::footer(int64_t wrong, double minBw) {
  double sum = 0;
  for (const Row& r : rows_) sum += r.outOfPlace.busBw + r.inPlace.busBw;
  wrong_ = wrong;
  avgBusBw_ = rows_.empty() ? 0.0 : sum / (2.0 * static_cast<double>(rows_.size()));
  if (print_) {
    std::printf("# %-20s : %lld %s\n", "Out of bounds values", static_cast<long long>(wrong), wrong ? "FAILED" : "OK");
    const char* verdict = minBw < 0 ? "" : avgBusBw_ < minBw ? "FAILED" : "OK";
    std::printf("# %-20s : %g %s\n", "Avg bus bandwidth", avgBusBw_, verdict);
    std::printf("#\n");
    std::fflush(stdout);
  }
  return avgBusBw_;
}

std::string Report::jsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

bool Report::writeJson(const std::string& path, std::string* error) const {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    *error = "cannot open " + path + " for writing";
    return false;
  }
  std::fprintf(f, "{\n");
  for (const auto& [key, value] : meta_) std::fprintf(f, "  %s: %s,\n", jsonQuote(key).c_str(), value.c_str());
  std::fprintf(f, "  \"results\": [");
  for (size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    std::fprintf(f,
                 "%s\n    {\"size\": %zu, \"count\": %zu, \"type\": %s, \"redop\": %s, \"root\": %d,\n"
                 "     \"out_of_place\": %s,\n     \"in_place\": %s}",
                 i ? "," : "", r.bytes, r.count, jsonQuote(r.type).c_str(), jsonQuote(r.redop).c_str(), r.root,
                 jsonMeasurement(r.outOfPlace).c_str(), jsonMeasurement(r.inPlace).c_str());
  }
  std::fprintf(f, "\n  ],\n  \"out_of_bounds\": %lld,\n  \"avg_bus_bw\": %s\n}\n", static_cast<long long>(wrong_),
               jsonNumber(avgBusBw_).c_str());
  const bool ok = std::fclose(f) == 0;
  if (!ok) *error = "writing " + path + " failed";
  return ok;
}

}  // namespace torc::perf
