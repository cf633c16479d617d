#include "perf/baselines/mpi_backend.h"

#include <climits>
#include <cstring>

namespace torc::perf {
namespace {

MPI_Datatype mpiType(DType t) {
  switch (t) {
    case DType::kInt8:
      return MPI_INT8_T;
    case DType::kUint8:
      return MPI_UINT8_T;
    case DType::kInt32:
      return MPI_INT32_T;
    case DType::kUint32:
      return MPI_UINT32_T;
    case DType::kInt64:
      return MPI_INT64_T;
    case DType::kUint64:
      return MPI_UINT64_T;
    case DType::kFloat32:
      return MPI_FLOAT;
    case DType::kFloat64:
      return MPI_DOUBLE;
    case DType::kFloat16:
    case DType::kBfloat16:
      return MPI_UINT16_T;  // only moved, never reduced (see supports())
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpiOp(RedOp op) {
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg:
      return MPI_SUM;
    case RedOp::kProd:
      return MPI_PROD;
    case RedOp::kMax:
      return MPI_MAX;
    case RedOp::kMin:
      return MPI_MIN;
  }
  return MPI_OP_NULL;
}

template <typename T>
void divideAll(void* buf, size_t n, int divisor) {
  T* x = static_cast<T*>(buf);
  const T d = static_cast<T>(divisor);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<T>(x[i] / d);
}

void divide(DType t, void* buf, size_t n, int divisor) {
  switch (t) {
    case DType::kInt8:
      divideAll<int8_t>(buf, n, divisor);
      break;
    case DType::kUint8:
      divideAll<uint8_t>(buf, n, divisor);
      break;
    case DType::kInt32:
      divideAll<int32_t>(buf, n, divisor);
      break;
    case DType::kUint32:
      divideAll<uint32_t>(buf, n, divisor);
      break;
    case DType::kInt64:
      divideAll<int64_t>(buf, n, divisor);
      break;
    case DType::kUint64:
      divideAll<uint64_t>(buf, n, divisor);
      break;
    case DType::kFloat32:
      divideAll<float>(buf, n, divisor);
      break;
    case DType::kFloat64:
      divideAll<double>(buf, n, divisor);
      break;
    case DType::kFloat16:
    case DType::kBfloat16:
      break;  // unsupported for reductions
  }
}

}  // namespace

std::string MpiBackend::version() const {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string v(text, static_cast<size_t>(len));
  const size_t cut = v.find_first_of(",\n");  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
  return cut == std::string::npos ? v : v.substr(0, cut);
}

bool MpiBackend::init() {
  int already = 0;
  MPI_Initialized(&already);
  if (!already && !check(MPI_Init(nullptr, nullptr), "MPI_Init")) return false;
  initialized_ = true;
  // Errors come back as codes so the driver can name the call that failed.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  return check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank") &&
         check(MPI_Comm_size(MPI_COMM_WORLD, &nranks_), "MPI_Comm_size");
}

bool MpiBackend::supports(Coll coll, DType t, RedOp) const {
  if (!collReduces(coll)) return true;
  return t != DType::kFloat16 && t != DType::kBfloat16;
}

bool MpiBackend::check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return true;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  error_ = std::string(call) + ": " + std::string(text, static_cast<size_t>(len));
  return false;
}

bool MpiBackend::barrier() { return check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

bool MpiBackend::run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) {
  if (count > static_cast<size_t>(INT_MAX)) {
    error_ = "count " + std::to_string(count) + " does not fit MPI's int";
    return false;
  }
  if (collReduces(coll) && !supports(coll, t, op)) {
    error_ = std::string(dtypeName(t)) + " reductions are not supported by MPI";
    return false;
  }
  const int n = static_cast<int>(count);
  const size_t bytes = count * dtypeSize(t);
  const MPI_Datatype dt = mpiType(t);
  const MPI_Op mop = mpiOp(op);
  auto* recvBytes = static_cast<unsigned char*>(recv);
  auto* sendBytes = static_cast<unsigned char*>(const_cast<void*>(send));
  const size_t me = static_cast<size_t>(rank_);
  switch (coll) {
    case Coll::kAllReduce:
      if (!check(MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, n, dt, mop, MPI_COMM_WORLD),
                 "MPI_Allreduce")) {
        return false;
      }
      if (op == RedOp::kAvg) divide(t, recv, count, nranks_);
      return true;
    case Coll::kAllGather:
      if (sendBytes == recvBytes + me * bytes) {
        return check(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, n, dt, MPI_COMM_WORLD), "MPI_Allgather");
      }
      return check(MPI_Allgather(send, n, dt, recv, n, dt, MPI_COMM_WORLD), "MPI_Allgather");
    case Coll::kReduceScatter:
      if (recvBytes == sendBytes + me * bytes) {
        // MPI's in-place form leaves this rank's block at the start of the buffer; NCCL's
        // wants it at offset rank*count, so move it (part of the cost of matching NCCL).
        if (!check(MPI_Reduce_scatter_block(MPI_IN_PLACE, sendBytes, n, dt, mop, MPI_COMM_WORLD),
                   "MPI_Reduce_scatter_block")) {
          return false;
        }
        if (me != 0) std::memmove(recvBytes, sendBytes, bytes);
      } else if (!check(MPI_Reduce_scatter_block(send, recv, n, dt, mop, MPI_COMM_WORLD), "MPI_Reduce_scatter_block")) {
        return false;
      }
      if (op == RedOp::kAvg) divide(t, recv, count, nranks_);
      return true;
    case Coll::kBroadcast:
      // MPI_Bcast is in place only; out of place costs the root one local copy.
      if (rank_ == root && send != recv) std::memcpy(recv, send, bytes);
      return check(MPI_Bcast(recv, n, dt, root, MPI_COMM_WORLD), "MPI_Bcast");
    case Coll::kReduce: {
      const void* in = rank_ == root && send == recv ? MPI_IN_PLACE : send;
      if (!check(MPI_Reduce(in, recv, n, dt, mop, root, MPI_COMM_WORLD), "MPI_Reduce")) return false;
      if (op == RedOp::kAvg && rank_ == root) divide(t, recv, count, nranks_);
      return true;
    }
  }
  error_ = "unknown collective";
  return false;
}

void MpiBackend::finalize() {
  if (initialized_) MPI_Finalize();
  initialized_ = false;
}

void MpiBackend::abort() {
  if (initialized_) MPI_Abort(MPI_COMM_WORLD, 2);
}

}  // namespace torc::perf
