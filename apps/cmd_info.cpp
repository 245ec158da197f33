// cmd_info.cpp: `vkrwkv info`: devices, the chosen device's capabilities and memory (text or JSON).
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "model_options.hpp"
#include "vkr/context.hpp"
#include "vkr/error.hpp"
#include "vkr/kernel.hpp"
#include "config.hpp"
#include "model.hpp"

namespace vkr::cli {

namespace {

using nlohmann::json;

std::string component_name(VkComponentTypeNV t) {
  switch (t) {
    case VK_COMPONENT_TYPE_FLOAT16_NV: return "f16";
    case VK_COMPONENT_TYPE_FLOAT32_NV: return "f32";
    case VK_COMPONENT_TYPE_SINT8_NV: return "i8";
    case VK_COMPONENT_TYPE_SINT32_NV: return "i32";
    case VK_COMPONENT_TYPE_UINT8_NV: return "u8";
    case VK_COMPONENT_TYPE_UINT32_NV: return "u32";
    default: return fmt::format("type{}", static_cast<int>(t));
  }
}

json caps_json(const Context& ctx) {
  const auto& c = ctx.caps();
  json coop = json::array();
  for (const auto& s : c.nv_coopmat_shapes) {
    coop.push_back({{"m", s.m}, {"n", s.n}, {"k", s.k}, {"a", component_name(s.a)},
                    {"b", component_name(s.b)}, {"c", component_name(s.c)},
                    {"result", component_name(s.result)}});
  }
  json heaps = json::array();
  for (const auto& h : ctx.memory_budget()) {
    heaps.push_back({{"size", h.size}, {"budget", h.budget}, {"usage", h.usage},
                     {"device_local", h.device_local}});
  }
  return {
      {"index", ctx.device_index()},
      {"name", c.device_name},
      {"type", device_type_name(c.device_type)},
      {"vendor_id", c.vendor_id},
      {"device_id", c.device_id},
      {"api_version", version_string(c.api_version)},
      {"driver", c.driver_name},
      {"driver_info", c.driver_info},
      {"fp16_storage", c.fp16_storage},
      {"fp16_arith", c.fp16_arith},
      {"int8_storage", c.int8_storage},
      {"int8_arith", c.int8_arith},
      {"bf16_ext", c.bf16_ext},
      {"subgroup_size", c.subgroup_size},
      {"subgroup_size_range", {c.min_subgroup_size, c.max_subgroup_size}},
      {"subgroup_ops", subgroup_ops_string(c.subgroup_ops)},
      {"subgroup_size_control", c.subgroup_size_control},
      {"max_shared_memory", c.max_shared_memory},
      {"compute_units", c.compute_units},
      {"max_storage_buffer_range", c.max_storage_buffer_range},
      {"max_push_constants", c.max_push_constants},
      {"max_workgroup_size", c.max_workgroup_size},
      {"max_workgroup_invocations", c.max_workgroup_invocations},
      {"max_workgroup_count", c.max_workgroup_count},
      {"max_allocation_size", c.max_allocation_size},
      {"max_buffer_size", c.max_buffer_size},
      {"push_descriptors", c.push_descriptors},
      {"memory_budget_ext", c.memory_budget},
      {"nv_cooperative_matrix", c.nv_cooperative_matrix},
      {"nv_cooperative_matrix_shapes", coop},
      {"khr_cooperative_matrix", c.khr_cooperative_matrix},
      {"timestamps", c.timestamps},
      {"timestamp_period_ns", c.timestamp_period_ns},
      {"timestamp_valid_bits", c.timestamp_valid_bits},
      {"memory_heaps", heaps},
  };
}

std::string yes(bool b) { return b ? "yes" : "no"; }

std::string mib(uint64_t bytes) { return fmt::format("{:.0f} MiB", static_cast<double>(bytes) / 1048576.0); }

void print_text(const std::vector<DeviceReport>& devices, const Context& ctx) {
  fmt::print("Vulkan devices:\n");
  for (const auto& d : devices) {
    fmt::print("  {}{}: {} [{}, Vulkan {}]{}\n", d.index == ctx.device_index() ? "*" : " ", d.index,
               d.name, device_type_name(d.type), version_string(d.api_version),
               d.usable ? "" : fmt::format(" rejected: {}", d.reason));
  }
  const auto& c = ctx.caps();
  fmt::print("\nSelected device {}: {}\n", ctx.device_index(), c.device_name);
  fmt::print("  driver              {} ({}), Vulkan {}\n", c.driver_name, c.driver_info,
             version_string(c.api_version));
  fmt::print("  fp16 storage/arith  {} / {}\n", yes(c.fp16_storage), yes(c.fp16_arith));
  fmt::print("  int8 storage/arith  {} / {}\n", yes(c.int8_storage), yes(c.int8_arith));
  fmt::print("  bf16                stored as 16-bit words{}\n",
             c.bf16_ext ? " (VK_KHR_shader_bfloat16 advertised)" : "");
  fmt::print("  subgroup size       {} (range {}..{}, size control {})\n", c.subgroup_size,
             c.min_subgroup_size, c.max_subgroup_size, yes(c.subgroup_size_control));
  fmt::print("  subgroup ops        {}\n", subgroup_ops_string(c.subgroup_ops));
  fmt::print("  shared memory       {} KiB\n", c.max_shared_memory / 1024);
  fmt::print("  compute units       {}\n",
             c.compute_units ? fmt::format("{}", c.compute_units) : std::string("not reported"));
  fmt::print("  max storage range   {}\n", mib(c.max_storage_buffer_range));
  fmt::print("  max buffer / alloc  {} / {}\n", mib(c.max_buffer_size), mib(c.max_allocation_size));
  fmt::print("  push constants      {} bytes\n", c.max_push_constants);
  fmt::print("  workgroup size      {} x {} x {} (max {} invocations)\n", c.max_workgroup_size[0],
             c.max_workgroup_size[1], c.max_workgroup_size[2], c.max_workgroup_invocations);
  fmt::print("  workgroup count     {} x {} x {}\n", c.max_workgroup_count[0],
             c.max_workgroup_count[1], c.max_workgroup_count[2]);
  fmt::print("  push descriptors    {}\n", yes(c.push_descriptors));
  fmt::print("  cooperative matrix  NV {} ({} shapes), KHR {}\n", yes(c.nv_cooperative_matrix),
             c.nv_coopmat_shapes.size(), yes(c.khr_cooperative_matrix));
  for (const auto& s : c.nv_coopmat_shapes) {
    fmt::print("    {}x{}x{} {}*{}+{}->{}\n", s.m, s.n, s.k, component_name(s.a),
               component_name(s.b), component_name(s.c), component_name(s.result));
  }
  fmt::print("  timestamps          {} (period {} ns, {} valid bits)\n", yes(c.timestamps),
             c.timestamp_period_ns, c.timestamp_valid_bits);
  fmt::print("  memory heaps{}\n", c.memory_budget ? " (size / budget / usage)" : " (size)");
  auto heaps = ctx.memory_budget();
  for (size_t i = 0; i < heaps.size(); ++i) {
    const auto& h = heaps[i];
    fmt::print("    {}: {}{}{}\n", i, mib(h.size),
               c.memory_budget ? fmt::format(" / {} / {}", mib(h.budget), mib(h.usage)) : "",
               h.device_local ? " device-local" : "");
  }
}

// The model's dims and memory plan, from the GGUF alone (nothing is uploaded).
json model_report(const Context& ctx, const std::string& path, bool as_json) {
  const auto file = gguf::File::open(path);
  const ModelConfig c = read_config(file);
  const MemoryPlan plan = plan_memory(file, c, 256);
  auto mib = [](uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  const uint64_t budget = device_free_bytes(ctx);
  // Tensor types with their counts and bytes (quantized files mix several: e.g. Q4_K_M = Q4_K +
  // Q6_K + F32), in first-seen order.
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> types;
  for (const auto& t : file.tensors()) {
    const std::string name(gguf::type_name(t.ggml_type()));
    auto it = std::find_if(types.begin(), types.end(), [&](const auto& e) { return e.first == name; });
    if (it == types.end()) it = types.insert(types.end(), {name, {0, 0}});
    it->second.first += 1;
    it->second.second += t.n_bytes;
  }
  json type_json = json::object();
  std::string type_text;
  for (const auto& [name, cb] : types) {
    type_json[name] = {{"tensors", cb.first}, {"bytes", cb.second}};
    type_text += fmt::format("{}{} x {} ({:.1f} MiB)", type_text.empty() ? "" : ", ", name,
                             cb.first, mib(cb.second));
  }
  if (!as_json) {
    fmt::print("\nModel {}{}\n  {}\n", path,
               file.n_shards() > 1 ? fmt::format(" (first of {} parts)", file.n_shards()) : "",
               describe(c));
    fmt::print("  tensors: {}\n", type_text);
    fmt::print("  memory plan: weights {:.1f} MiB + state {:.2f} MiB per sequence + scratch {:.1f} "
               "MiB (256 tokens per call) = {:.1f} MiB for 1 sequence; device budget {:.0f} MiB{}\n",
               mib(plan.weights), mib(plan.state_per_sequence), mib(plan.scratch),
               mib(plan.total(1)), mib(budget), plan.total(1) > budget ? " (does NOT fit)" : "");
  }
  json parts = json::array();
  for (size_t i = 0; i < file.n_shards(); ++i) parts.push_back(file.shard_path(i).string());
  return {{"file", path},
          {"parts", parts},
          {"arch", arch_name(c.arch)},
          {"n_layer", c.n_layer},
          {"C", c.C},
          {"F", c.F},
          {"S", c.S},
          {"H", c.H},
          {"Hkv", c.Hkv},
          {"V", c.V},
          {"Dm", c.Dm},
          {"Dd", c.Dd},
          {"norm_eps", c.norm_eps},
          {"rescale_every", c.rescale_every},
          {"weights_bytes", plan.weights},
          {"state_bytes_per_sequence", plan.state_per_sequence},
          {"scratch_bytes", plan.scratch},
          {"device_budget_bytes", budget},
          {"fits", plan.total(1) <= budget},
          {"tensor_types", type_json}};
}

// How `path` would split over `devices` (layer_split or by free memory): each part's layers and
// memory against its device's free memory. Nothing is uploaded.
json split_report(std::span<Context* const> devices, const std::string& path,
                  const std::vector<uint32_t>& layer_split, bool as_json) {
  const auto file = gguf::File::open(path);
  const ModelConfig c = read_config(file);
  std::vector<uint64_t> free;
  for (Context* d : devices) free.push_back(device_free_bytes(*d));
  const auto split = plan_layer_split(file, c, free, layer_split);
  auto mib = [](uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  json parts = json::array();
  if (!as_json) fmt::print("  split over {} devices:\n", devices.size());
  uint32_t first = 0;
  for (size_t i = 0; i < devices.size(); ++i) {
    const uint32_t end = first + split[i];
    const MemoryPlan p = plan_memory(file, c, 256, first, end);
    const bool fits = p.total(1) <= free[i];
    if (!as_json) {
      fmt::print("    layers {}-{} on device {} ({}): {:.1f} MiB for 1 sequence of {:.0f} MiB "
                 "free{}\n",
                 first, end - 1, devices[i]->device_index(), devices[i]->caps().device_name,
                 mib(p.total(1)), mib(free[i]), fits ? "" : " (does NOT fit)");
    }
    parts.push_back({{"device", devices[i]->device_index()}, {"first_layer", first},
                     {"end_layer", end}, {"weights_bytes", p.weights},
                     {"state_bytes_per_sequence", p.state_per_sequence},
                     {"scratch_bytes", p.scratch}, {"free_bytes", free[i]}, {"fits", fits}});
    first = end;
  }
  return parts;
}

}  // namespace

Command add_info(CLI::App& app, CommonOptions& common) {
  auto* sub = app.add_subcommand("info", "List Vulkan devices and the chosen device's capabilities");
  auto json_out = std::make_shared<bool>(false);
  sub->add_option("-d,--device", common.device,
                  "Device index or name substring (default: $VKR_DEVICE, else the best device); "
                  "a comma list with -m shows how the model splits over those devices");
  auto split = std::make_shared<std::vector<uint32_t>>();
  sub->add_option("--split", *split, "Layers per device for the split plan (e.g. 20,44)")
      ->delimiter(',');
  sub->add_flag("--json", *json_out, "Print one JSON object instead of text");
  sub->add_flag("--validation", common.validation, "Enable the Khronos validation layer");
  auto model = std::make_shared<std::string>();
  sub->add_option("-m,--model", *model, "Also print this GGUF model's dims and memory plan");
  return {sub, [&common, json_out, model, split] {
            auto devices = Context::list_devices();
            const auto names = device_list(common.device);
            require(split->empty() || names.size() > 1, ErrorCode::InvalidArgument,
                    "--split needs several devices (e.g. --device 0,1)");
            require(names.size() == 1 || !model->empty(), ErrorCode::InvalidArgument,
                    "--device '{}': several devices need -m (a model to plan the split of)",
                    common.device);
            std::vector<std::unique_ptr<Context>> owned;
            std::vector<Context*> ctxs;
            for (const auto& name : names) {
              ContextOptions opt;
              opt.device = name;
              opt.validation = common.validation;
              opt.persist_pipeline_cache = false;
              owned.push_back(Context::create(opt));
              ctxs.push_back(owned.back().get());
            }
            Context* ctx = ctxs.front();
            json parts;  // checked before anything is printed
            if (ctxs.size() > 1) parts = split_report(ctxs, *model, *split, true);
            if (*json_out) {
              json devs = json::array();
              for (const auto& d : devices) {
                devs.push_back({{"index", d.index}, {"name", d.name},
                                {"type", device_type_name(d.type)},
                                {"api_version", version_string(d.api_version)},
                                {"usable", d.usable}, {"reason", d.reason}});
              }
              json out = {{"version", VKR_VERSION}, {"devices", devs}, {"selected", caps_json(*ctx)}};
              if (!model->empty()) out["model"] = model_report(*ctx, *model, true);
              if (ctxs.size() > 1) out["model"]["split"] = parts;
              fmt::print("{}\n", out.dump(2));
            } else {
              print_text(devices, *ctx);
              if (!model->empty()) model_report(*ctx, *model, false);
              if (ctxs.size() > 1) split_report(ctxs, *model, *split, false);
            }
            return 0;
          }};
}

}  // namespace vkr::cli
