/* volk_impl.c: compiles Debian's volk.c into our library and exposes a device-table loader that
 * takes an explicit vkGetDeviceProcAddr, so we never depend on (or set) volk's global pointers. */
#include <volk.c>

struct vkr_gdpa_context {
  VkDevice device;
  PFN_vkGetDeviceProcAddr gdpa;
};

static PFN_vkVoidFunction vkr_gdpa_stub(void* context, const char* name) {
  struct vkr_gdpa_context* c = (struct vkr_gdpa_context*)context;
  return c->gdpa(c->device, name);
}

void vkr_volk_load_device_table(struct VolkDeviceTable* table, VkDevice device,
                                PFN_vkGetDeviceProcAddr gdpa) {
  struct vkr_gdpa_context c = {device, gdpa};
  volkGenLoadDeviceTable(table, &c, vkr_gdpa_stub);
}
