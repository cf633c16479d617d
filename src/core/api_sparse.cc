// Sparse collectives of torc.h (index/value pairs), built on the dense engines.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "include/torc.h"
#include "src/core/api_guard.h"
#include "src/core/sparse_topk.h"

namespace torc::api {
namespace {

Status checkIndexType(torcDataType_t t) {
  if (t != torcUint32 && t != torcInt64)
    return errorf(Code::kInvalidArgument, "index type %d: sparse indices are torcUint32 or torcInt64",
                  static_cast<int>(t));
  return Status::ok();
}

Status checkValueType(torcDataType_t t) {
  if (t != torcFloat32 && t != torcFloat16 && t != torcBfloat16)
    return errorf(Code::kInvalidArgument, "value type %d: sparse values are torcFloat32, torcFloat16 or torcBfloat16",
                  static_cast<int>(t));
  return Status::ok();
}

// What torcSparseAllReduce and torcSparseAllReducePairs check alike.
Status checkSparseAllReduce(torcComm_t comm, const void* sendbuff, const void* residual, size_t count, size_t k,
                            torcDataType_t datatype, torcTopkMode_t mode) {
  TORC_RETURN_IF_ERROR(checkComm(comm));
  TORC_RETURN_IF_ERROR(checkType(datatype));
  if (datatype != torcFloat32 && datatype != torcFloat16 && datatype != torcBfloat16)
    return errorf(Code::kInvalidArgument,
                  "datatype %s: the sparse all-reduce takes torcFloat32, torcFloat16 or torcBfloat16",
                  kernels::dtypeName(static_cast<DType>(datatype)));
  if (mode != torcTopkSum && mode != torcTopkGlobalExact && mode != torcTopkGlobalTree && mode != torcTopkHierarchical)
    return errorf(Code::kInvalidArgument, "unknown top-k mode %d", static_cast<int>(mode));
  if (count > 0xffffffffu) return errorf(Code::kInvalidArgument, "count %zu: at most 2^32 - 1 elements", count);
  if (k > count) return errorf(Code::kInvalidArgument, "k %zu is larger than count %zu", k, count);
  TORC_RETURN_IF_ERROR(checkHostBuf(sendbuff, count, "sendbuff"));
  TORC_RETURN_IF_ERROR(core::requireHostMemory(residual, "residual"));
  const size_t bytes = count * kernels::dtypeSize(static_cast<DType>(datatype));
  if (overlaps(residual, bytes, sendbuff, bytes))
    return Status(Code::kInvalidArgument, "residual overlaps sendbuff or recvbuff");
  return Status::ok();
}

// The engine works in float32. For float32, a = input + residual in a buffer of our own (on
// any error the caller's residual is as it was); without a residual, a is the input itself
// (read before out is written, so sendbuff may be out). For float16/bfloat16, a = input +
// residual rounded to the type (torc's 16-bit sum), widened exactly; the result comes back in
// float32 and `narrow` receives it rounded once to the type (every rank rounds the same bits),
// failing on every rank alike, before the residual is touched, where a sum overflows the type.
Status sparseAllReduce(torcComm_t comm, torcDataType_t datatype, const void* sendbuff, void* residual, float* out,
                       void* narrow, size_t count, size_t k, torcTopkMode_t mode, std::vector<uint32_t>* selected) {
  const auto t = static_cast<DType>(datatype);
  const size_t es = kernels::dtypeSize(t);
  static thread_local std::vector<float> sum;  // reused between calls (grown, never shrunk)
  static thread_local std::vector<uint16_t> a16;
  const float* a = static_cast<const float*>(sendbuff);
  const void* aBits = sendbuff;  // a in the caller's type: what the residual keeps
  if (t == DType::kFloat32 && residual != nullptr) {
    sum.resize(count);
    kernels::reduce(t, RedOp::kSum, sum.data(), sendbuff, residual, count);
    a = sum.data();
    aBits = a;
  } else if (t != DType::kFloat32) {
    if (residual != nullptr) {
      a16.resize(count);
      kernels::reduce(t, RedOp::kSum, a16.data(), sendbuff, residual, count);
      aBits = a16.data();
    }
    sum.resize(count);
    kernels::widenToFloat(t, aBits, sum.data(), count);
    a = sum.data();
  }
  std::vector<uint32_t> delivered;
  TORC_RETURN_IF_ERROR(core::sparseTopkAllReduce(*comm->comm, static_cast<core::TopkMode>(mode), a, count, k, out,
                                                 &delivered, selected));
  if (narrow != nullptr && !kernels::narrowFromFloat(t, out, narrow, count)) {
    size_t i = 0;
    for (float w = 0; i < count; ++i) {  // the first finite sum that became Inf
      kernels::widenToFloat(t, static_cast<const char*>(narrow) + i * es, &w, 1);
      if (std::isinf(w) && std::isfinite(out[i])) break;
    }
    return errorf(Code::kInvalidArgument, "a sum of selected values overflows %s (first at index %zu)",
                  kernels::dtypeName(t), i);
  }
  if (residual != nullptr) {  // what was delivered leaves the residual; everything else stays behind
    if (aBits != residual) std::memcpy(residual, aBits, count * es);
    char* e = static_cast<char*>(residual);
    for (uint32_t i : delivered) std::memset(e + i * es, 0, es);
  }
  return Status::ok();
}

}  // namespace
}  // namespace torc::api

using namespace torc;       // NOLINT
using namespace torc::api;  // NOLINT

extern "C" {

torcResult_t torcSparseAllGather(const void* sendIndices, const void* sendValues, size_t k, torcDataType_t indexType,
                                 torcDataType_t valueType, void* recvIndices, void* recvValues, torcComm_t comm,
                                 torcStream_t) {
  return guard(comm, "torcSparseAllGather", [&]() -> Status {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkIndexType(indexType));
    TORC_RETURN_IF_ERROR(checkValueType(valueType));
    const size_t p = static_cast<size_t>(comm->comm->nranks());
    const size_t is = kernels::dtypeSize(static_cast<DType>(indexType));
    const size_t vs = kernels::dtypeSize(static_cast<DType>(valueType));
    size_t pairBytes = 0, outIdxBytes = 0, outValBytes = 0;
    // One rank's pairs travel as one block [k indices | k values]: a single all-gather.
    TORC_RETURN_IF_ERROR(checkBytes(k, torcUint8, is + vs, &pairBytes));
    TORC_RETURN_IF_ERROR(checkBytes(k, indexType, p, &outIdxBytes));
    TORC_RETURN_IF_ERROR(checkBytes(k, valueType, p, &outValBytes));
    TORC_RETURN_IF_ERROR(checkHostBuf(sendIndices, k, "sendIndices"));
    TORC_RETURN_IF_ERROR(checkHostBuf(sendValues, k, "sendValues"));
    TORC_RETURN_IF_ERROR(checkHostBuf(recvIndices, k, "recvIndices"));
    TORC_RETURN_IF_ERROR(checkHostBuf(recvValues, k, "recvValues"));
    if (overlaps(recvIndices, outIdxBytes, recvValues, outValBytes))
      return Status(Code::kInvalidArgument, "recvIndices and recvValues overlap");
    for (const void* in : {sendIndices, sendValues}) {
      const size_t inBytes = in == sendIndices ? k * is : k * vs;
      if (overlaps(in, inBytes, recvIndices, outIdxBytes) || overlaps(in, inBytes, recvValues, outValBytes))
        return Status(Code::kInvalidArgument, "a send buffer overlaps a receive buffer");
    }
    if (pairBytes > SIZE_MAX / p) return errorf(Code::kInvalidArgument, "k %zu is too large for %zu ranks", k, p);
    if (k == 0) return Status::ok();  // like every collective with count 0: no communication
    std::vector<char> mine(pairBytes), all(pairBytes * p);
    std::memcpy(mine.data(), sendIndices, k * is);
    std::memcpy(mine.data() + k * is, sendValues, k * vs);
    TORC_RETURN_IF_ERROR(comm->comm->run(collArgs(algos::Coll::kAllGather, pairBytes), mine.data(), all.data(),
                                         DType::kUint8, RedOp::kSum));
    for (size_t r = 0; r < p; ++r) {
      const char* block = all.data() + r * pairBytes;
      std::memcpy(static_cast<char*>(recvIndices) + r * k * is, block, k * is);
      std::memcpy(static_cast<char*>(recvValues) + r * k * vs, block + k * is, k * vs);
    }
    return Status::ok();
  });
}

torcResult_t torcSparseAllReduce(const void* sendbuff, void* residual, void* recvbuff, size_t count, size_t k,
                                 torcDataType_t datatype, torcTopkMode_t mode, torcComm_t comm, torcStream_t) {
  return guard(comm, "torcSparseAllReduce", [&]() -> Status {
    TORC_RETURN_IF_ERROR(checkSparseAllReduce(comm, sendbuff, residual, count, k, datatype, mode));
    const size_t bytes = count * kernels::dtypeSize(static_cast<DType>(datatype));
    TORC_RETURN_IF_ERROR(checkHostBuf(recvbuff, count, "recvbuff"));
    TORC_RETURN_IF_ERROR(checkOverlap(sendbuff, bytes, recvbuff, bytes, 0, false));
    if (overlaps(residual, bytes, recvbuff, bytes))
      return Status(Code::kInvalidArgument, "residual overlaps sendbuff or recvbuff");
    if (count == 0) return Status::ok();
    if (datatype == torcFloat32)
      return sparseAllReduce(comm, datatype, sendbuff, residual, static_cast<float*>(recvbuff), nullptr, count, k,
                             mode, nullptr);
    static thread_local std::vector<float> wide;        // the float32 result
    static thread_local std::vector<uint16_t> result;  // narrowed, copied out once nothing can fail
    wide.resize(count);
    result.resize(count);
    TORC_RETURN_IF_ERROR(
        sparseAllReduce(comm, datatype, sendbuff, residual, wide.data(), result.data(), count, k, mode, nullptr));
    std::memcpy(recvbuff, result.data(), bytes);
    return Status::ok();
  });
}

torcResult_t torcSparseAllReducePairs(const void* sendbuff, void* residual, size_t count, size_t k,
                                      torcDataType_t datatype, torcTopkMode_t mode, void* recvIndices,
                                      torcDataType_t indexType, void* recvValues, size_t* recvCount, torcComm_t comm,
                                      torcStream_t) {
  return guard(comm, "torcSparseAllReducePairs", [&]() -> Status {
    TORC_RETURN_IF_ERROR(checkSparseAllReduce(comm, sendbuff, residual, count, k, datatype, mode));
    TORC_RETURN_IF_ERROR(checkIndexType(indexType));
    if (recvCount == nullptr) return Status(Code::kInvalidArgument, "recvCount is NULL");
    const size_t p = static_cast<size_t>(comm->comm->nranks());
    const bool sums = mode == torcTopkSum || mode == torcTopkHierarchical;  // pairs: the nonzero sums
    const size_t cap = sums ? std::min(count, p * k) : k;
    const size_t is = kernels::dtypeSize(static_cast<DType>(indexType));
    const size_t vs = kernels::dtypeSize(static_cast<DType>(datatype)), bytes = count * vs;
    TORC_RETURN_IF_ERROR(checkHostBuf(recvIndices, cap, "recvIndices"));
    TORC_RETURN_IF_ERROR(checkHostBuf(recvValues, cap, "recvValues"));
    if (overlaps(recvIndices, cap * is, recvValues, cap * vs))
      return Status(Code::kInvalidArgument, "recvIndices and recvValues overlap");
    for (const void* in : {sendbuff, static_cast<const void*>(residual)})
      if (overlaps(in, bytes, recvIndices, cap * is) || overlaps(in, bytes, recvValues, cap * vs))
        return Status(Code::kInvalidArgument, "sendbuff or residual overlaps recvIndices or recvValues");
    *recvCount = 0;
    if (count == 0) return Status::ok();
    static thread_local std::vector<float> dense;  // reused between calls (grown, never shrunk)
    static thread_local std::vector<char> narrowed;
    dense.resize(count);
    if (datatype != torcFloat32) narrowed.resize(bytes);
    std::vector<uint32_t> selected;
    TORC_RETURN_IF_ERROR(sparseAllReduce(comm, datatype, sendbuff, residual, dense.data(),
                                         datatype == torcFloat32 ? nullptr : narrowed.data(), count, k, mode,
                                         sums ? nullptr : &selected));
    // The nonzero float32 sums: a 16-bit rounding of one is never 0 (sums of 16-bit values are
    // multiples of the type's smallest subnormal, or far above it when inexact).
    if (sums)
      for (size_t i = 0; i < count; ++i)
        if (dense[i] != 0.0f) selected.push_back(static_cast<uint32_t>(i));
    if (selected.size() > cap)
      return errorf(Code::kInternalError, "%zu result pairs where at most %zu were expected", selected.size(), cap);
    const char* values = datatype == torcFloat32 ? reinterpret_cast<const char*>(dense.data()) : narrowed.data();
    for (size_t j = 0; j < selected.size(); ++j) {
      if (indexType == torcUint32)
        static_cast<uint32_t*>(recvIndices)[j] = selected[j];
      else
        static_cast<int64_t*>(recvIndices)[j] = selected[j];
      std::memcpy(static_cast<char*>(recvValues) + j * vs, values + size_t{selected[j]} * vs, vs);
    }
    *recvCount = selected.size();
    return Status::ok();
  });
}

}  // extern "C"
