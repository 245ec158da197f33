/* vkrwkv.h: the C99 API of vkrwkv (RWKV-6 / QRWKV6 inference on Vulkan), usable from C, Python
 * ctypes, Rust, Go. Every int-returning call gives 0 (or a count) on success and a negative
 * VKRWKV_ERROR_* code on failure; vkrwkv_last_error() then holds the message (per thread). No
 * C++ exception crosses this boundary. Handles are opaque and may be freed in any order: a model
 * or session keeps what it runs on alive (a borrowed host device must outlive all of them). A
 * context, and everything made from it, is used by one thread at a time.
 *
 * Embedding in a Vulkan app: vkrwkv_device_requirements_query() says what to enable before the
 * app creates its device; vkrwkv_context_create_external() borrows the app's instance, device and
 * queue (never destroying them); vkrwkv_session_record_forward() records one forward pass into a
 * command buffer the app owns and submits itself (synchronization contract at that function). */
#ifndef VKRWKV_H
#define VKRWKV_H

#include <stdint.h>
#include <vulkan/vulkan_core.h>

#if defined(_WIN32)
#define VKRWKV_API
#else
#define VKRWKV_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define VKRWKV_VERSION_MAJOR 0
#define VKRWKV_VERSION_MINOR 1

enum vkrwkv_result {
  VKRWKV_OK = 0,
  VKRWKV_ERROR_INVALID_ARGUMENT = -1, /* null pointer, bad slot/id/count, wrong state size */
  VKRWKV_ERROR_BUFFER_TOO_SMALL = -2, /* the message says how much is needed */
  VKRWKV_ERROR_NO_VULKAN = -3,        /* no loader or no device */
  VKRWKV_ERROR_DEVICE_UNSUPPORTED = -4, /* a needed feature is missing (message names it) */
  VKRWKV_ERROR_OUT_OF_MEMORY = -5,
  VKRWKV_ERROR_BAD_MODEL = -6,        /* malformed/unsupported GGUF or state */
  VKRWKV_ERROR_IO = -7,               /* missing or unreadable file */
  VKRWKV_ERROR_DEVICE_LOST = -8,
  VKRWKV_ERROR_VULKAN = -9,           /* another VkResult error, or a timeout */
  VKRWKV_ERROR_INTERNAL = -10
};

typedef struct vkrwkv_context vkrwkv_context;
typedef struct vkrwkv_model vkrwkv_model;
typedef struct vkrwkv_session vkrwkv_session;
typedef struct vkrwkv_sampler vkrwkv_sampler;

/* A host application's Vulkan objects. vkrwkv uses only the features and extensions listed as
 * enabled: a missing optional one selects a slower path; a missing required one
 * (timelineSemaphore) or one a model needs (storageBuffer16BitAccess for F16/BF16 weights) is an
 * error naming it. */
typedef struct vkrwkv_external_device {
  VkInstance instance;
  VkPhysicalDevice physical_device;
  VkDevice device;
  uint32_t queue_family;
  VkQueue queue;
  PFN_vkGetInstanceProcAddr get_instance_proc_addr;
  const char *const *enabled_extensions;
  uint32_t enabled_extension_count;
  const VkPhysicalDeviceFeatures2 *enabled_features; /* pNext chain; NULL = core minimum */
  /* Optional: when the host also submits to `queue`, vkrwkv calls lock_queue/unlock_queue
   * (with queue_lock_user) around each of its vkQueueSubmit calls. Both or neither. */
  void (*lock_queue)(void *queue_lock_user);
  void (*unlock_queue)(void *queue_lock_user);
  void *queue_lock_user;
} vkrwkv_external_device;

/* What to enable on a device for vkrwkv, filled by vkrwkv_device_requirements_query(). Pass
 * `&features` as VkDeviceCreateInfo.pNext (it heads a chain through the structs below, which
 * point into this struct: do not copy it, query again instead) and `extensions` as the enabled
 * extensions (append your own). All listed items are supported by the queried device. */
typedef struct vkrwkv_device_requirements {
  int usable;                    /* 0: the device lacks a hard requirement, see `missing` */
  char missing[256];             /* what it lacks, "" when usable */
  const char *extensions[8];
  uint32_t extension_count;
  VkPhysicalDeviceFeatures2 features;
  VkPhysicalDeviceVulkan11Features vulkan11;
  VkPhysicalDeviceVulkan12Features vulkan12;
  VkPhysicalDeviceVulkan13Features vulkan13; /* chained on Vulkan 1.3 devices only */
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cooperative_matrix_nv; /* chained when listed */
} vkrwkv_device_requirements;

/* Where a recorded forward pass reads token ids and writes logits (valid while the session
 * lives). ids_buffer holds int32 ids, is host-visible (ids_mapped) and has storage and transfer
 * usage, so a host shader or copy may write it; logits_buffer holds n_vocab floats, the logits
 * after the last token. */
typedef struct vkrwkv_forward_io {
  VkBuffer ids_buffer;
  VkDeviceSize ids_offset, ids_size;
  void *ids_mapped;
  VkBuffer logits_buffer;
  VkDeviceSize logits_offset, logits_size;
} vkrwkv_forward_io;

/* Contexts. device_index -1 = $VKR_DEVICE or the best device. */
VKRWKV_API int vkrwkv_context_create(int device_index, vkrwkv_context **out);
VKRWKV_API int vkrwkv_context_create_external(const vkrwkv_external_device *dev,
                                              vkrwkv_context **out);
VKRWKV_API void vkrwkv_context_destroy(vkrwkv_context *ctx);
/* instance_api_version: the apiVersion the instance was created with (0 = the device's); Vulkan
 * 1.3 feature structs are chained only when both are >= 1.3. */
VKRWKV_API int vkrwkv_device_requirements_query(VkInstance instance,
                                                VkPhysicalDevice physical_device,
                                                PFN_vkGetInstanceProcAddr get_instance_proc_addr,
                                                uint32_t instance_api_version,
                                                vkrwkv_device_requirements *out);

/* Models and tokens. */
VKRWKV_API int vkrwkv_model_load(vkrwkv_context *ctx, const char *gguf_path, vkrwkv_model **out);
/* A model split by layers over n_ctxs devices, in order (the first also embeds, the last runs the
 * head); the residual stream passes between devices through host memory. layers: n_ctxs counts
 * (each >= 1, summing to the model's layers), or NULL to split in proportion to each device's
 * free memory. Sessions of a split model cannot record into a host command buffer
 * (vkrwkv_session_record_forward / forward_io: VKRWKV_ERROR_INVALID_ARGUMENT). */
VKRWKV_API int vkrwkv_model_load_split(vkrwkv_context *const *ctxs, int n_ctxs,
                                       const char *gguf_path, const int *layers,
                                       vkrwkv_model **out);
/* Devices the model runs on (1 unless split). */
VKRWKV_API int vkrwkv_model_n_devices(const vkrwkv_model *model);
VKRWKV_API void vkrwkv_model_free(vkrwkv_model *model);
VKRWKV_API int vkrwkv_model_n_vocab(const vkrwkv_model *model);
/* The model's width (floats of a hidden state, see vkrwkv_session_eval_hidden). */
VKRWKV_API int vkrwkv_model_n_embd(const vkrwkv_model* model);
/* Returns the number of ids (special-token text is parsed). ids may be NULL with max_ids 0 to
 * ask for the count; a smaller non-zero max_ids is VKRWKV_ERROR_BUFFER_TOO_SMALL. */
VKRWKV_API int vkrwkv_tokenize(const vkrwkv_model *model, const char *utf8, int32_t *ids,
                               int max_ids);
/* Raw bytes of a token (maybe part of a UTF-8 character), NUL-terminated when there is room;
 * returns the byte count (without NUL). */
VKRWKV_API int vkrwkv_token_to_piece(const vkrwkv_model *model, int32_t id, char *buf,
                                     int buf_size);

/* Sessions: n_slots independent sequences, each with its recurrent state. */
VKRWKV_API int vkrwkv_session_create(vkrwkv_model *model, int n_slots, vkrwkv_session **out);
VKRWKV_API void vkrwkv_session_free(vkrwkv_session *s);
/* Runs ids through `slot`; writes the logits after the last id (n_vocab floats) when logits is
 * not NULL. */
VKRWKV_API int vkrwkv_session_eval(vkrwkv_session *s, int slot, const int32_t *ids, int n_ids,
                                   float *logits);
/* Like eval, but writes the final hidden state after the last id instead of the logits: the
 * output norm's row (n_embd floats), what the head multiplies and what embeddings are pooled
 * from (`vkrwkv serve`'s /v1/embeddings scales it to unit length). */
VKRWKV_API int vkrwkv_session_eval_hidden(vkrwkv_session* s, int slot, const int32_t* ids,
                                          int n_ids, float* hidden);
/* Like eval, but returns the argmax of the last logits (computed on the GPU), or a negative code. */
VKRWKV_API int vkrwkv_session_eval_greedy(vkrwkv_session *s, int slot, const int32_t *ids,
                                          int n_ids);
VKRWKV_API int vkrwkv_session_reset(vkrwkv_session *s, int slot);
VKRWKV_API long long vkrwkv_state_size(const vkrwkv_session *s); /* bytes per slot, or < 0 */
/* `size` must equal vkrwkv_state_size(). */
VKRWKV_API int vkrwkv_state_save(const vkrwkv_session *s, int slot, void *buf, long long size);
VKRWKV_API int vkrwkv_state_load(vkrwkv_session *s, int slot, const void *buf, long long size);
/* Copies slot `from_slot`'s state into `to_slot` on the device (a fork: both go on alone). */
VKRWKV_API int vkrwkv_state_copy(vkrwkv_session *s, int from_slot, int to_slot);
/* State files, the format `vkrwkv generate --state-out` writes and `vkrwkv serve` restores into
 * a cache slot: the model's fingerprint, slot's state, and the n_tokens ids the state has read
 * (the server continues prompts that start with them; tokens may be NULL when n_tokens is 0:
 * none recorded). */
VKRWKV_API int vkrwkv_state_save_file(const vkrwkv_session* s, int slot, const char* path,
                                      const int32_t* tokens, long long n_tokens);
/* Loads a state file into `slot` and returns how many token ids it records (>= 0; the first
 * `capacity` of them are written to `tokens`, which may be NULL when capacity is 0), or a
 * negative code: VKRWKV_ERROR_IO (cannot open), VKRWKV_ERROR_BAD_MODEL (another model's file,
 * truncated, corrupt). */
VKRWKV_API long long vkrwkv_state_load_file(vkrwkv_session* s, int slot, const char* path,
                                            int32_t* tokens, long long capacity);

/* Several sequences at once: one decode step (one id each) for the n slots [first_slot,
 * first_slot + n) in one forward call, which reads the weights once for all of them (a decode
 * step is bound by that read, so n sequences cost far less than n calls). Writes n x n_vocab
 * logits, slot by slot. n in [1, vkrwkv_session_max_batch()]. */
VKRWKV_API int vkrwkv_session_decode_batch(vkrwkv_session *s, int first_slot, const int32_t *ids,
                                           int n, float *logits);
VKRWKV_API int vkrwkv_session_max_batch(const vkrwkv_session *s);

/* Sampling on the host, one sampler per sequence (not thread-safe): penalties -> top-k ->
 * softmax(logits / temperature) -> top-p -> min-p -> a seeded draw. The same parameters and calls
 * give the same ids on every platform. */
typedef struct vkrwkv_sampler_params {
  float temperature;       /* <= 0: greedy (argmax after the penalties) */
  int top_k;               /* 0: off */
  float top_p;             /* in (0, 1]; 1: off */
  float min_p;             /* in [0, 1], relative to the most likely id; 0: off */
  float repeat_penalty;    /* > 0; 1: off */
  float presence_penalty;  /* subtracted once from each recently accepted id */
  float frequency_penalty; /* subtracted per occurrence */
  int penalty_last_n;      /* accepted ids the penalties look back on; 0: off */
  uint64_t seed;
} vkrwkv_sampler_params;
/* The defaults (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties, seed 0). */
VKRWKV_API int vkrwkv_sampler_default_params(vkrwkv_sampler_params *out);
/* A bad parameter is VKRWKV_ERROR_INVALID_ARGUMENT naming it. */
VKRWKV_API int vkrwkv_sampler_create(const vkrwkv_sampler_params *params, vkrwkv_sampler **out);
VKRWKV_API void vkrwkv_sampler_free(vkrwkv_sampler *s);
/* Returns the id picked from one row of n_vocab logits. It is not recorded for the penalties:
 * call vkrwkv_sampler_accept() with the ids the sequence really gets (prompt ids too). */
VKRWKV_API int vkrwkv_sampler_sample(vkrwkv_sampler *s, const float *logits, int n_vocab);
VKRWKV_API int vkrwkv_sampler_accept(vkrwkv_sampler *s, int32_t id);
/* Forgets the accepted ids and restarts the random stream from the seed (and a JSON or grammar
 * constraint from its start). */
VKRWKV_API int vkrwkv_sampler_reset(vkrwkv_sampler *s);
/* on != 0: constrains the draws to one JSON object in `model`'s vocabulary (serve's
 * response_format json_object): sample() never returns an id that cannot continue the object
 * and, once it is complete, returns an end-of-generation id. Set it after the prompt's ids were
 * accepted: every id accepted from then on is part of the object (one that cannot be is
 * VKRWKV_ERROR_INVALID_ARGUMENT). on = 0 removes it (model may be NULL then). The sampler keeps
 * the model alive. */
VKRWKV_API int vkrwkv_sampler_set_json(vkrwkv_sampler *s, const vkrwkv_model *model, int on);
/* schema != NULL: constrains the draws, as vkrwkv_sampler_set_json() does, to one JSON value
 * matching a JSON schema (the text of one; serve's response_format json_schema, the subset in
 * README.md: its root may be any value, e.g. {"enum": ["yes", "no"]} for a classifier). An
 * end-of-generation id comes where the value may end (a number may also go on). A schema that
 * is not JSON, or that uses a keyword outside the subset, is VKRWKV_ERROR_INVALID_ARGUMENT
 * naming it in vkrwkv_last_error(). schema = NULL removes the constraint (model may be NULL
 * then). One constraint at a time, as with set_json and set_grammar. */
VKRWKV_API int vkrwkv_sampler_set_json_schema(vkrwkv_sampler* s, const vkrwkv_model* model,
                                              const char* schema);
/* gbnf != NULL: constrains the draws to the texts of a GBNF grammar (llama.cpp's format, from
 * its rule `root`) in `model`'s vocabulary, as vkrwkv_sampler_set_json() does for JSON: sample()
 * returns an end-of-generation id only where the text so far is a whole one, and only such ids
 * once nothing may follow. A grammar that does not parse is VKRWKV_ERROR_INVALID_ARGUMENT with
 * the line and column in vkrwkv_last_error(). gbnf = NULL removes the constraint (JSON's too;
 * model may be NULL then). One constraint at a time: this replaces set_json's and vice versa. */
VKRWKV_API int vkrwkv_sampler_set_grammar(vkrwkv_sampler* s, const vkrwkv_model* model,
                                          const char* gbnf);

/* Sets the sampler's settings from a JSON object with llama-server's field names, those left out
 * unchanged: temperature, top_k, top_p, min_p, repeat_penalty, presence_penalty,
 * frequency_penalty, repeat_last_n, seed, and what vkrwkv_sampler_params lacks: typical_p,
 * top_n_sigma, xtc_probability, xtc_threshold, dynatemp_range, dynatemp_exponent, min_keep,
 * dry_multiplier, dry_base, dry_allowed_length, dry_penalty_last_n, dry_sequence_breakers,
 * mirostat (1 or 2), mirostat_tau, mirostat_eta, samplers (the chain's order, llama.cpp's names),
 * logit_bias ({"id": bias} or [[id or text, bias or false], ...]) and ignore_eos. `model` gives
 * the vocabulary that token texts, ignore_eos and DRY's breakers need (NULL when none is used).
 * The history and the random stream start over. A bad field is VKRWKV_ERROR_INVALID_ARGUMENT
 * naming it; the sampler is then unchanged. E.g. {"dry_multiplier": 0.8, "mirostat": 2}. */
VKRWKV_API int vkrwkv_sampler_configure(vkrwkv_sampler* s, const vkrwkv_model* model,
                                        const char* json);

/* Embedding: tokens per recorded forward pass (1..this). */
VKRWKV_API int vkrwkv_session_max_tokens(const vkrwkv_session *s);
/* The buffers a forward pass of n_tokens uses, without recording (to record a producer first). */
VKRWKV_API int vkrwkv_session_forward_io(const vkrwkv_session *s, int n_tokens,
                                         vkrwkv_forward_io *out);
/* Records one forward pass of n_tokens ids (already in, or written earlier in `cb` to, the ids
 * buffer) through `slot` into `cb`, which the host owns, has begun, and submits itself on a queue
 * of the context's queue family. Synchronization contract:
 *  - first we record a global memory barrier from compute+transfer writes to compute+transfer
 *    reads/writes: ids written earlier in `cb` by a compute shader or a transfer command are
 *    seen; CPU writes through ids_mapped before vkQueueSubmit are seen anyway. Ids produced in
 *    another submission need the host's semaphore.
 *  - last we record the same barrier plus compute+transfer -> host: later compute/transfer
 *    commands in `cb` may read the logits, and the CPU may read them (after copying them to
 *    host-visible memory) once the submission completes. Graphics consumers need the host's own
 *    barrier.
 *  - until that submission completes, do not use this session (eval, state, record) or free it.
 * `out` may be NULL. */
VKRWKV_API int vkrwkv_session_record_forward(vkrwkv_session *s, int slot, int n_tokens,
                                             VkCommandBuffer cb, vkrwkv_forward_io *out);

/* Message of the last failed call on this thread ("" if none). */
VKRWKV_API const char *vkrwkv_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* VKRWKV_H */
