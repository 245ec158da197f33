/* volk_impl.c: compiles Debian's volk.c into our library with every global it defines renamed
 * (vkr_volk_prefix.h, generated from volk.h), so a host app linking libvulkan or its own volk keeps
 * its vk* symbols. The rest of the runtime reaches volk only through the two functions below and
 * never uses volk's global pointers. */
#include "vkr_volk_prefix.h"

#include <volk.c>

/* Opens the Vulkan loader (once per process; volk keeps it open) and returns its
 * vkGetInstanceProcAddr, or NULL when there is no loader. */
PFN_vkGetInstanceProcAddr vkr_volk_open_loader(void) {
  if (volkInitialize() != VK_SUCCESS) return NULL;
  return vkGetInstanceProcAddr;
}

struct vkr_gdpa_context {
  VkDevice device;
  PFN_vkGetDeviceProcAddr gdpa;
};

static PFN_vkVoidFunction vkr_gdpa_stub(void* context, const char* name) {
  struct vkr_gdpa_context* c = (struct vkr_gdpa_context*)context;
  return c->gdpa(c->device, name);
}

/* Fills a per-device table through an explicit vkGetDeviceProcAddr (ours or the host's). */
void vkr_volk_load_device_table(struct VolkDeviceTable* table, VkDevice device,
                                PFN_vkGetDeviceProcAddr gdpa) {
  struct vkr_gdpa_context c = {device, gdpa};
  volkGenLoadDeviceTable(table, &c, vkr_gdpa_stub);
}
