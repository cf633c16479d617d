/*
 * torc: collective communication for distributed training.
 *
 * The public C99 API. Names, argument order and semantics follow NCCL with the prefix `torc`,
 * so a program written for NCCL ports by renaming. Every function returns a torcResult_t; on
 * failure, torcGetLastError() gives a human-readable message. No function throws, aborts or
 * exits the process on bad input.
 *
 * Memory: every call returns when it is complete and its output holds the result. A CUDA build
 * also takes device buffers in the collectives and send/receive: it waits for the work queued
 * on `stream` before it (so inputs made there are ready), stages device buffers through pinned
 * host memory, and copies device outputs back on `stream`, which it synchronises before it
 * returns. Host buffers with a non-NULL stream: the stream is synchronised first when a CUDA
 * device is usable (pinned or managed memory written by kernels), ignored otherwise. The sparse
 * and fusion calls take host memory only (device memory: torcInvalidArgument). Without a usable
 * device (no driver, no GPU, or a build without CUDA) every pointer is taken as host memory.
 *
 * Threads: a communicator may be used by one thread at a time. Different communicators may be
 * used from different threads concurrently (torcCommInitAll's ranks are driven that way).
 */
#ifndef TORC_H_
#define TORC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TORC_MAJOR 0
#define TORC_MINOR 1
#define TORC_PATCH 0
/** Version as a single integer: MAJOR*10000 + MINOR*100 + PATCH (NCCL's scheme). */
#define TORC_VERSION_CODE (TORC_MAJOR * 10000 + TORC_MINOR * 100 + TORC_PATCH)

#if defined(__GNUC__)
#define TORC_API __attribute__((visibility("default")))
#else
#define TORC_API
#endif

/** Opaque communicator handle. */
typedef struct torcComm* torcComm_t;

/** Layout-compatible with cudaStream_t (a pointer to CUstream_st). NULL is the default stream. */
typedef struct CUstream_st* torcStream_t;

#define TORC_UNIQUE_ID_BYTES 128
/** Rendezvous handle made by torcGetUniqueId: the root's address and a 128-bit secret. */
typedef struct {
  char internal[TORC_UNIQUE_ID_BYTES];
} torcUniqueId;

/** Result codes. The numbers are fixed and match NCCL's where NCCL has the same code. */
typedef enum {
  torcSuccess = 0,
  torcUnhandledCudaError = 1,
  torcSystemError = 2,     /**< an OS call failed (socket, memory, thread) */
  torcInternalError = 3,   /**< a bug in torc or a transport failure it cannot classify */
  torcInvalidArgument = 4, /**< a bad pointer, count, type, op, rank or root */
  torcInvalidUsage = 5,    /**< a valid argument used wrongly (e.g. a destroyed or aborted comm) */
  torcRemoteError = 6,     /**< a peer failed or disconnected */
  torcInProgress = 7,      /**< a non-blocking operation has not completed yet */
  torcTimeout = 8,         /**< nothing happened within TORC_TIMEOUT seconds */
  torcOverflow = 9,        /**< a result holds Inf or NaN (a value overflowed the wire type): skip the step */
  torcNumResults = 10
} torcResult_t;

/** Element types (same numbers as ncclDataType_t). */
typedef enum {
  torcInt8 = 0,
  torcChar = 0,
  torcUint8 = 1,
  torcInt32 = 2,
  torcInt = 2,
  torcUint32 = 3,
  torcInt64 = 4,
  torcUint64 = 5,
  torcFloat16 = 6,
  torcHalf = 6,
  torcFloat32 = 7,
  torcFloat = 7,
  torcFloat64 = 8,
  torcDouble = 8,
  torcBfloat16 = 9,
  torcNumTypes = 10
} torcDataType_t;

/**
 * Reduction operators (same numbers as ncclRedOp_t). Floating-point reductions of float16
 * and bfloat16 are computed in float32 and rounded to nearest even. torcAvg is the sum
 * divided by the number of ranks once, at the end (integer types truncate toward zero).
 */
typedef enum { torcSum = 0, torcProd = 1, torcMax = 2, torcMin = 3, torcAvg = 4, torcNumOps = 5 } torcRedOp_t;

/* ---------------------------------------------------------------- version and errors */

/** Writes TORC_VERSION_CODE of the loaded library into *version. */
TORC_API torcResult_t torcGetVersion(int* version);

/** A static string naming the result code ("invalid argument", ...). Never NULL. */
TORC_API const char* torcGetErrorString(torcResult_t result);

/**
 * The message of the last error recorded on `comm`, or of the last error of the calling
 * thread when comm is NULL (errors that happen before a communicator exists). Valid until the
 * next torc call on the same thread. Never NULL; "" when there was no error.
 */
TORC_API const char* torcGetLastError(torcComm_t comm);

/* ---------------------------------------------------------------- communicators */

/**
 * Makes a rendezvous handle. The calling process starts a listener (a background thread) on
 * the address chosen by TORC_SOCKET_IFNAME (default: the first non-loopback IPv4 interface,
 * else loopback) and packs it with a fresh random secret. Hand the id to every rank (MPI_Bcast,
 * a file, ...) and call torcCommInitRank with it. Connections that do not present the secret
 * are dropped and logged. All ranks must arrive within TORC_TIMEOUT of the first (an id no rank
 * uses is given up after an hour).
 */
TORC_API torcResult_t torcGetUniqueId(torcUniqueId* uniqueId);

/**
 * Creates a communicator of `nranks` ranks; this process is `rank`. Collective: blocks until
 * all ranks have called it with the same id, or fails with torcTimeout after TORC_TIMEOUT
 * seconds, naming the ranks that did not arrive.
 */
TORC_API torcResult_t torcCommInitRank(torcComm_t* comm, int nranks, torcUniqueId commId, int rank);

/**
 * Creates `ndev` communicators, ranks 0..ndev-1, in this process (as NCCL does for the
 * devices of one process). devlist may be NULL; it is recorded but not otherwise used by host
 * collectives. The communicators' collectives must then be called from separate threads,
 * one per rank, because each call blocks until its collective is complete.
 */
TORC_API torcResult_t torcCommInitAll(torcComm_t* comms, int ndev, const int* devlist);

/**
 * Creates a communicator from the launcher's environment:
 * torcrun (TORC_RANK, TORC_NRANKS, TORC_ROOT_ADDR, TORC_SECRET),
 * torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; torc listens on MASTER_PORT+1
 * unless TORC_PORT is set), Open MPI (OMPI_COMM_WORLD_RANK/SIZE) and Slurm
 * (SLURM_PROCID/SLURM_NTASKS); the last two need TORC_ROOT_ADDR (host:port) or MASTER_ADDR.
 * Rank 0 hosts the rendezvous. The secret is TORC_SECRET when set, else one derived from the
 * launcher's job identity (weaker: document your network's trust).
 */
TORC_API torcResult_t torcCommInitFromEnv(torcComm_t* comm);

/** torcCommSplit's color for ranks that want no new communicator. */
#define TORC_SPLIT_NOCOLOR (-1)

/**
 * Splits `comm` as NCCL does: the ranks that pass the same color >= 0 form one new
 * communicator, ranked by key (ties: by rank in `comm`); TORC_SPLIT_NOCOLOR gives *newcomm =
 * NULL. Collective over every rank of `comm`, which stays usable. Each new communicator gets
 * its own rendezvous (hosted by its first rank, on the interface TORC_SOCKET_IFNAME picks) and
 * its own connections. config is reserved and must be NULL.
 */
TORC_API torcResult_t torcCommSplit(torcComm_t comm, int color, int key, torcComm_t* newcomm, void* config);

/** Frees the communicator after its operations completed. comm may be NULL. */
TORC_API torcResult_t torcCommDestroy(torcComm_t comm);

/**
 * Frees the communicator without waiting for peers. May be called from another thread while an
 * operation on `comm` is blocked (a dead or stuck peer): that operation returns
 * torcInvalidUsage within milliseconds, and the handle must not be used after either returns.
 */
TORC_API torcResult_t torcCommAbort(torcComm_t comm);

TORC_API torcResult_t torcCommCount(const torcComm_t comm, int* count);
TORC_API torcResult_t torcCommUserRank(const torcComm_t comm, int* rank);

/**
 * The communicator's asynchronous error: torcSuccess, or the error that broke it (a dead
 * peer, a timeout). After an error every later collective on the comm fails fast.
 */
TORC_API torcResult_t torcCommGetAsyncError(torcComm_t comm, torcResult_t* asyncError);

/* ---------------------------------------------------------------- collectives
 * Argument order and semantics are NCCL's. sendbuff == recvbuff (or, for all-gather,
 * sendbuff == recvbuff + rank*sendcount; for reduce-scatter, recvbuff == sendbuff +
 * rank*recvcount) is the in-place form; other overlaps are rejected. count 0 is valid and
 * returns at once, with no communication. All ranks must call collectives in the same order
 * with the same count, type, op and root; a mismatch is reported (torcInvalidUsage) where it is
 * detected, else it ends in torcTimeout, and either way it breaks the communicator.
 */

/** recvbuff[i] = op over ranks of sendbuff[i], for i < count, on every rank. */
TORC_API torcResult_t torcAllReduce(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                                    torcRedOp_t op, torcComm_t comm, torcStream_t stream);

/** Copies root's sendbuff into every rank's recvbuff. sendbuff is read on root only. */
TORC_API torcResult_t torcBroadcast(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                                    int root, torcComm_t comm, torcStream_t stream);

/** Reduces into root's recvbuff; recvbuff is not touched (and may be NULL) on other ranks. */
TORC_API torcResult_t torcReduce(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                                 torcRedOp_t op, int root, torcComm_t comm, torcStream_t stream);

/** recvbuff[r*sendcount .. (r+1)*sendcount) = rank r's sendbuff, on every rank. */
TORC_API torcResult_t torcAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, torcDataType_t datatype,
                                    torcComm_t comm, torcStream_t stream);

/** Rank r's recvbuff = op over ranks of sendbuff[r*recvcount .. (r+1)*recvcount). */
TORC_API torcResult_t torcReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        torcDataType_t datatype, torcRedOp_t op, torcComm_t comm,
                                        torcStream_t stream);

/** Point-to-point. Sends to one peer are received in the order they were sent. */
TORC_API torcResult_t torcSend(const void* sendbuff, size_t count, torcDataType_t datatype, int peer,
                               torcComm_t comm, torcStream_t stream);
TORC_API torcResult_t torcRecv(void* recvbuff, size_t count, torcDataType_t datatype, int peer, torcComm_t comm,
                               torcStream_t stream);

/** Returns when every rank has entered the barrier. */
TORC_API torcResult_t torcBarrier(torcComm_t comm, torcStream_t stream);

/* ---------------------------------------------------------------- asynchronous operations
 * Each ...Async call checks its arguments at once (a bad one is returned at once, with *request
 * left NULL), then returns while the operation runs on the communicator's progress thread
 * (started on first use). Operations on a communicator run one at a time in the order they were
 * called, blocking and asynchronous alike: a blocking call first waits for the asynchronous ones
 * issued before it. Until the request completes, the buffers belong to torc: do not read the
 * output or write the input. Complete every request with torcWait, or with torcTest reporting
 * done; either frees it. torcCommDestroy refuses (torcInvalidUsage) while requests are open;
 * torcCommAbort makes them complete with an error. Sends and receives have no asynchronous form
 * (run one at a time in call order, a receive posted before its matching send would wait forever).
 */

/** Opaque handle of one asynchronous operation. */
typedef struct torcRequest* torcRequest_t;

TORC_API torcResult_t torcAllReduceAsync(const void* sendbuff, void* recvbuff, size_t count,
                                         torcDataType_t datatype, torcRedOp_t op, torcComm_t comm,
                                         torcRequest_t* request);
TORC_API torcResult_t torcBroadcastAsync(const void* sendbuff, void* recvbuff, size_t count,
                                         torcDataType_t datatype, int root, torcComm_t comm, torcRequest_t* request);
TORC_API torcResult_t torcReduceAsync(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                                      torcRedOp_t op, int root, torcComm_t comm, torcRequest_t* request);
TORC_API torcResult_t torcAllGatherAsync(const void* sendbuff, void* recvbuff, size_t sendcount,
                                         torcDataType_t datatype, torcComm_t comm, torcRequest_t* request);
/** With torcAllGatherAsync, the two halves of an all-reduce issued apart (as DeAR does): the
 *  reduce-scatter of a bucket right after backward, its all-gather just before the weights are
 *  needed. */
TORC_API torcResult_t torcReduceScatterAsync(const void* sendbuff, void* recvbuff, size_t recvcount,
                                             torcDataType_t datatype, torcRedOp_t op, torcComm_t comm,
                                             torcRequest_t* request);

/** *done = 1 once the operation has finished: the call then returns the operation's result and
 *  frees the request. While it runs, *done = 0, torcSuccess, and the request stays open. */
TORC_API torcResult_t torcTest(torcRequest_t request, int* done);

/** Waits for the operation, returns its result and frees the request. */
TORC_API torcResult_t torcWait(torcRequest_t request);

/* ---------------------------------------------------------------- fused buckets
 * Many tensors all-reduced as few buckets, each started in the background as soon as it is full.
 */

/** Opaque handle of a fusion object. */
typedef struct torcFusion* torcFusion_t;

/** torcFusionCreate flag: tensors may be torcFloat32, torcFloat16 and torcBfloat16 alike. */
#define TORC_FUSION_MIXED_TYPES 1
/** torcFusionCreate flag: the all-reduce in two halves, as DeAR does. A full bucket only
 *  reduce-scatters; torcFusionWait waits for that half (tensors still hold their inputs), and
 *  torcFusionGather all-gathers the buckets holding a tensor just before it is needed. */
#define TORC_FUSION_SPLIT 2

/**
 * A fusion object on comm. thresholdBytes: a bucket starts its all-reduce once it holds that many
 * bytes on the wire (0: TORC_FUSION_BYTES, default 25 MiB). wireType: the tensors' own type (no
 * conversion), or torcFloat32/torcFloat16/torcBfloat16 for floating-point tensors: each tensor is
 * packed into the bucket in the wire type and unpacked into its own type; every hop of the
 * all-reduce widens to float32, adds and rounds once to the wire type, so with p ranks an element
 * sees at most p roundings (packing included), and |result - exact| <= p (u sum|x| + eta)
 * (u = 2^-11, eta = 2^-25 for float16; u = 2^-8, eta = 2^-134 for bfloat16; eta bounds a rounding
 * below the normal range) plus the rounding into the tensor's type. op: torcSum or torcAvg (with conversion,
 * avg divides by p in float32 before packing; without, it is torcAvg's sum-then-divide). flags:
 * 0 (every tensor of one type) or TORC_FUSION_MIXED_TYPES. Every rank must create it alike and add
 * the same tensors (counts and types) in the same order. Without conversion the results equal
 * separate torcAllReduce calls bit for bit on one node (shared memory adds every element in rank
 * order); a ring between nodes adds in an order that depends on the element's position, so
 * floating-point results may differ there in the last bits (integers are exact either way).
 */
TORC_API torcResult_t torcFusionCreate(torcComm_t comm, size_t thresholdBytes, torcDataType_t wireType,
                                       torcRedOp_t op, int flags, torcFusion_t* fusion);

/** Adds a tensor (count elements of datatype; count may be 0). Its result is written over it by the
 *  time torcFusionWait returns; until then it belongs to torc. A tensor may span buckets. */
TORC_API torcResult_t torcFusionAdd(torcFusion_t fusion, void* tensor, size_t count, torcDataType_t datatype);

/** Starts the all-reduce of the last, partly filled bucket. */
TORC_API torcResult_t torcFusionFlush(torcFusion_t fusion);

/**
 * Flushes, then waits for every bucket: each tensor added since the last wait holds its result.
 * *overflow (may be NULL) = 1 when a result holds Inf or NaN (from the inputs or from overflowing
 * the wire type), and the call returns torcOverflow: the same on every rank, so a dynamic loss
 * scaler can skip the step everywhere. Another failure returns that bucket's error.
 */
TORC_API torcResult_t torcFusionWait(torcFusion_t fusion, int* overflow);

/**
 * With TORC_FUSION_SPLIT, after torcFusionWait: all-gathers every bucket holding a piece of
 * `tensor` (as passed to torcFusionAdd; NULL: every bucket not yet gathered) and unpacks those
 * buckets, so that the tensor (and the others sharing its buckets) holds its result. Collective:
 * every rank gathers the same tensors in the same order. A tensor whose buckets were gathered
 * already needs nothing. torcOverflow as for torcFusionWait.
 */
TORC_API torcResult_t torcFusionGather(torcFusion_t fusion, const void* tensor);

/** Frees the object; torcInvalidUsage (and nothing freed) while tensors added are not yet waited
 *  for (or, with TORC_FUSION_SPLIT, gathered). */
TORC_API torcResult_t torcFusionDestroy(torcFusion_t fusion);

/* ---------------------------------------------------------------- sparse collectives
 * A sparse vector is k (index, value) pairs in two arrays. Indices are torcUint32 or torcInt64;
 * values torcFloat32, torcFloat16 or torcBfloat16. Every rank passes the same k and types.
 */

/** Sparse all-gather: rank r's k pairs land at [r*k, (r+1)*k) of recvIndices and recvValues on
 *  every rank, in rank order, as sent (no sorting, merging or deduplication). Receive buffers
 *  hold nranks*k entries and must not overlap the send buffers. */
TORC_API torcResult_t torcSparseAllGather(const void* sendIndices, const void* sendValues, size_t k,
                                          torcDataType_t indexType, torcDataType_t valueType, void* recvIndices,
                                          void* recvValues, torcComm_t comm, torcStream_t stream);

/** What a sparse all-reduce delivers. */
typedef enum {
  /** recvbuff = sum over ranks of S_r (TopkA): every rank's own top-k, summed exactly where they meet.
   *  Every rank's residual loses all of S_r. Two routes, the same bits: with 2 p k <= count, an
   *  all-gather of the pairs ((p-1) k pairs received per rank); beyond it (TORC_TOPK_ROUTE=auto),
   *  a sparse reduce-scatter by index range then an all-gather of the ranges' sums, each range
   *  sent dense where its pairs would outweigh it, so no rank receives more than the dense vector
   *  (said at INFO). */
  torcTopkSum = 0,
  /** recvbuff = TopK(sum over ranks of S_r, k): the exact top-k (same tie rule) of TopkSum's
   *  result, each survivor with its complete sum, zero elsewhere. A rank's entry of S_r is
   *  delivered (leaves its residual) iff its index survives. Owners of index ranges sum their
   *  range (sparse reduce-scatter), pick its top k, agree on the k-th largest (magnitude, index)
   *  through all-reduced histograms (at most 8 of 256 counters), and gather only the k winners:
   *  about 2 k pairs received per rank instead of TopkSum's (p-1) k. A sum that overflows float32
   *  fails on every rank with torcInvalidArgument. */
  torcTopkGlobalExact = 1,
  /** gTop-k: recursive doubling over ranks in pairs (r, r^d) for d = 1, 2, 4, ..., each pair's lists
   *  replaced by merge_k(A, B) = TopK(A + B, k), the lower rank's A added first; with p not a power
   *  of two, ranks P..p-1 (P the largest power of two <= p) first merge into rank r - P. This is
   *  NOT the exact global top-k: it is the deterministic outcome of that pairing, k entries, the same
   *  on every rank. An entry pruned in a merge returns to its contributors' residuals: a rank's
   *  entry is delivered only if its index survives every merge it takes part in. Traffic k log2 p
   *  pairs per rank instead of the all-gather's (p-1) k. */
  torcTopkGlobalTree = 2,
  /** HiTopKComm, for communicators spanning nodes with the same number R of ranks each: a dense
   *  reduce-scatter inside each node (local rank l sums shard l of its node's a_r), the top k_l
   *  of each shard (k_l = k/R, the first k%R shards one more: k per node), a sparse all-gather of
   *  those among the ranks with equal local rank, summed in node order, and an all-gather inside
   *  the node. recvbuff = sum over nodes of their selected node sums. Selection is of node sums,
   *  so a rank's delivered entries are its node's selected indices (its residual keeps the rest).
   *  Dense traffic stays inside nodes; k pairs per node cross between nodes. */
  torcTopkHierarchical = 3
} torcTopkMode_t;

/** Sparse (top-k) all-reduce of count elements with error feedback. On rank r,
 *  a_r = sendbuff + residual (residual may be NULL: then a_r = sendbuff), and S_r = TopK(a_r, k):
 *  the k elements of largest magnitude, ties to the lower index. recvbuff (count elements, zero
 *  where nothing was selected) receives the mode's result, identical bits on every rank (sums are
 *  taken in rank order). residual, when given, becomes a_r minus what of S_r reached the result
 *  (for torcTopkSum: a_r with S_r's entries zeroed), so that over many steps what was delivered
 *  plus the final residual is the sum of the inputs. A rank whose a_r holds Inf or NaN makes the
 *  call fail on every rank with torcInvalidArgument naming it, with recvbuff and residual
 *  untouched, and so does a sum that overflows float32 or the result's type. datatype torcFloat32,
 *  torcFloat16 or torcBfloat16 (sendbuff, residual and recvbuff alike): for the 16-bit types
 *  a_r = sendbuff + residual rounded to the type (the residual keeps these values), selection and
 *  sums are float32 on the widened a_r, and the result is rounded once to the type. count < 2^32,
 *  k <= count; sendbuff may equal recvbuff. */
TORC_API torcResult_t torcSparseAllReduce(const void* sendbuff, void* residual, void* recvbuff, size_t count,
                                          size_t k, torcDataType_t datatype, torcTopkMode_t mode, torcComm_t comm,
                                          torcStream_t stream);

/** torcSparseAllReduce with the result as (index, value) pairs, ascending by index, instead of a
 *  dense buffer: *recvCount pairs in recvIndices (indexType torcUint32 or torcInt64) and recvValues
 *  (datatype), the same values as the dense result's at those indices, identical on every rank.
 *  torcTopkGlobalExact and torcTopkGlobalTree give their k selected indices (a selected sum may be
 *  0); torcTopkSum and torcTopkHierarchical give the dense result's nonzero entries (an index whose
 *  sums cancel to 0 reads as unselected), at most min(count, nranks * k). The receive buffers hold that many (k for the
 *  other modes) and must not overlap sendbuff or residual. */
TORC_API torcResult_t torcSparseAllReducePairs(const void* sendbuff, void* residual, size_t count, size_t k,
                                               torcDataType_t datatype, torcTopkMode_t mode, void* recvIndices,
                                               torcDataType_t indexType, void* recvValues, size_t* recvCount,
                                               torcComm_t comm, torcStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* TORC_H_ */
