// host_example.cpp: a Vulkan application embedding vkrwkv on its own device. It runs its own
// compute job, hands its instance/device/queue to vkrwkv, generates text with the model given on
// the command line, records one forward pass into its own command buffer (token ids produced on
// the GPU by its own shader, logits copied on the GPU into its own buffer), and checks that its
// job's results and those logits (vs a plain vkrwkv run) are right. Exit status 0 = all checks hold.
//
// usage: vkr_host_example MODEL.gguf [PROMPT] [N_TOKENS]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "host_vulkan.hpp"
#include "vkrwkv.hpp"

namespace {

constexpr uint32_t kJobN = 1000, kMul = 7, kAdd = 3, kMod = 1009;

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// The host's own job into its own buffer, checked on the CPU. Run before and after vkrwkv's
// objects exist: the device must stay usable throughout.
bool run_host_job(host::HostVulkan& hv, const char* when) {
  host::HostBuffer b = hv.make_buffer(kJobN * 4);
  VkCommandBuffer cb = hv.begin_commands();
  hv.record_job(cb, b.buffer, 0, b.size, kJobN, kMul, kAdd, kMod);
  hv.submit_and_wait(cb);
  const auto* v = static_cast<const uint32_t*>(b.mapped);
  uint32_t bad = 0;
  for (uint32_t i = 0; i < kJobN; ++i) bad += v[i] != (i * kMul + kAdd) % kMod ? 1 : 0;
  hv.free_buffer(b);
  std::printf("host job %s vkrwkv: %s\n", when, bad ? "WRONG" : "ok");
  return bad == 0;
}

void generate(vkrwkv::Model& model, vkrwkv::Session& session, const std::string& prompt, int n) {
  std::vector<int32_t> ids = model.tokenize(prompt);
  if (ids.empty()) ids.push_back(0);
  std::printf("%s", prompt.c_str());
  for (int i = 0; i < n; ++i) {
    const int32_t next = session.eval_greedy(0, ids);
    std::printf("%s", model.piece(next).c_str());
    std::fflush(stdout);
    ids = {next};
  }
  std::printf("\n");
}

// One forward pass recorded into the host's command buffer: host shader -> ids, vkrwkv forward,
// host copy of the logits. Returns the logits and the ids the shader made.
std::vector<float> forward_in_host_cb(host::HostVulkan& hv, vkrwkv::Session& session, int slot,
                                      uint32_t n_tokens, uint32_t vocab,
                                      std::vector<int32_t>& ids) {
  const vkrwkv_forward_io io = session.forward_io(static_cast<int>(n_tokens));
  host::HostBuffer out = hv.make_buffer(io.logits_size);
  VkCommandBuffer cb = hv.begin_commands();
  hv.record_job(cb, io.ids_buffer, io.ids_offset, io.ids_size, n_tokens, 31, 5, vocab);
  session.record_forward(slot, static_cast<int>(n_tokens), cb);  // barriers: see vkrwkv.h
  VkBufferCopy region{io.logits_offset, 0, io.logits_size};
  vkCmdCopyBuffer(cb, io.logits_buffer, out.buffer, 1, &region);
  VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  to_host.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                       &to_host, 0, nullptr, 0, nullptr);
  hv.submit_and_wait(cb);
  std::vector<float> logits(io.logits_size / sizeof(float));
  std::memcpy(logits.data(), out.mapped, io.logits_size);
  hv.free_buffer(out);
  ids.resize(n_tokens);
  for (uint32_t i = 0; i < n_tokens; ++i) ids[i] = static_cast<int32_t>((i * 31 + 5) % vocab);
  return logits;
}

bool logits_match(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return false;
  double max_diff = 0, max_ref = 1;
  for (size_t i = 0; i < got.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - want[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
  }
  std::printf("host command buffer logits vs plain vkrwkv run: max |diff| %.3g (scale %.3g)\n",
              max_diff, max_ref);
  return max_diff <= 1e-3 * max_ref;
}

void lock_queue(void* m) { static_cast<std::mutex*>(m)->lock(); }
void unlock_queue(void* m) { static_cast<std::mutex*>(m)->unlock(); }

int run(int argc, char** argv) {
  const std::string model_path = argv[1];
  const std::string prompt = argc > 2 ? argv[2] : "The Eiffel tower is in";
  const int n_gen = argc > 3 ? std::atoi(argv[3]) : 16;
  host::HostVulkan hv(env_true("VKR_VALIDATION"));
  std::printf("host device: %s\n", hv.device_name.c_str());
  bool ok = run_host_job(hv, "before");
  {
    vkrwkv_external_device ext{};
    ext.instance = hv.instance;
    ext.physical_device = hv.physical_device;
    ext.device = hv.device;
    ext.queue_family = hv.queue_family;
    ext.queue = hv.queue;
    ext.get_instance_proc_addr = vkGetInstanceProcAddr;
    ext.enabled_extensions = hv.enabled_extensions.data();
    ext.enabled_extension_count = static_cast<uint32_t>(hv.enabled_extensions.size());
    ext.enabled_features = hv.enabled_features();
    ext.lock_queue = lock_queue;
    ext.unlock_queue = unlock_queue;
    ext.queue_lock_user = &hv.queue_mutex;
    vkrwkv::Context ctx(ext);
    vkrwkv::Model model(ctx, model_path);
    vkrwkv::Session session(model, 2);
    generate(model, session, prompt, n_gen);

    const auto vocab = static_cast<uint32_t>(model.n_vocab());
    const uint32_t n_tokens = std::min<uint32_t>(4, static_cast<uint32_t>(session.max_tokens()));
    std::vector<int32_t> ids;
    const auto got = forward_in_host_cb(hv, session, 1, n_tokens, vocab, ids);
    // The plain run: vkrwkv's own context, submission and readback.
    vkrwkv::Context plain_ctx;
    vkrwkv::Model plain_model(plain_ctx, model_path);
    vkrwkv::Session plain(plain_model);
    ok = logits_match(got, plain.eval(0, ids)) && ok;
  }
  ok = run_host_job(hv, "after") && ok;
  if (hv.validation_messages) {
    std::printf("validation messages on the host instance: %u\n", hv.validation_messages);
    ok = false;
  }
  std::printf("%s\n", ok ? "host example: all checks passed" : "host example: CHECKS FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [PROMPT] [N_TOKENS]\n", argv[0]);
    return 2;
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "host example: %s\n", e.what());
    return 1;
  }
}
