#include "hwlabel_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// One guard per thread: libpci access objects have one owner at a time (the probe serialises
// them), so the innermost wrapper on this thread is the one libpci's hook must return to.
static _Thread_local jmp_buf *hwl_guard;
static _Thread_local char hwl_message[512];

#define HWL_WARN_SLOTS 16
static _Thread_local char hwl_warnings[HWL_WARN_SLOTS][256];
static _Thread_local unsigned hwl_warn_head, hwl_warn_count;

__attribute__((noreturn)) static void hwl_error(char *msg, ...) {
  va_list ap;
  va_start(ap, msg);
  vsnprintf(hwl_message, sizeof hwl_message, msg, ap);
  va_end(ap);
  if (hwl_guard)
    longjmp(*hwl_guard, 1);
  // Reached only if libpci errors outside every wrapper: never exit the host process.
  for (;;) {}
}

static void hwl_warning(char *msg, ...) {
  va_list ap;
  unsigned slot = (hwl_warn_head + hwl_warn_count) % HWL_WARN_SLOTS;
  va_start(ap, msg);
  vsnprintf(hwl_warnings[slot], sizeof hwl_warnings[slot], msg, ap);
  va_end(ap);
  if (hwl_warn_count < HWL_WARN_SLOTS)
    hwl_warn_count++;
  else
    hwl_warn_head = (hwl_warn_head + 1) % HWL_WARN_SLOTS;
}

static void hwl_debug(char *msg, ...) { (void)msg; }

int hwl_pci_take_warning(char *buf, size_t len) {
  if (!hwl_warn_count)
    return 0;
  snprintf(buf, len, "%s", hwl_warnings[hwl_warn_head]);
  hwl_warn_head = (hwl_warn_head + 1) % HWL_WARN_SLOTS;
  hwl_warn_count--;
  return 1;
}

// Runs `body` with the guard installed; evaluates to 0, or -1 with `err` filled.
#define HWL_GUARDED(err, errlen, body)                                   \
  do {                                                                   \
    jmp_buf env;                                                         \
    jmp_buf *saved = hwl_guard;                                          \
    if (setjmp(env)) {                                                   \
      hwl_guard = saved;                                                 \
      if (err && errlen) snprintf(err, errlen, "%s", hwl_message);       \
      return -1;                                                         \
    }                                                                    \
    hwl_guard = &env;                                                    \
    body;                                                                \
    hwl_guard = saved;                                                   \
  } while (0)

static int hwl_init(struct pci_access *a, const char *param, const char *value, char *err,
                    size_t errlen) {
  HWL_GUARDED(err, errlen, {
    if (param && value && pci_set_param(a, (char *)param, (char *)value) != 0) {
      snprintf(err, errlen, "libpci has no parameter %s", param);
      hwl_guard = saved;
      return -1;
    }
    pci_init(a);
  });
  return 0;
}

struct pci_access *hwl_pci_open(unsigned int method, const char *param, const char *value,
                                char *err, size_t errlen) {
  struct pci_access *a = pci_alloc();
  if (!a) {
    snprintf(err, errlen, "pci_alloc failed");
    return NULL;
  }
  a->error = hwl_error;
  a->warning = hwl_warning;
  a->debug = hwl_debug;
  a->method = method;
  if (hwl_init(a, param, value, err, errlen) != 0) {
    // An access object whose init longjmp'ed out may be half built: leak it rather than
    // risk freeing fields libpci never set.
    return NULL;
  }
  return a;
}

void hwl_pci_close(struct pci_access *a) {
  if (!a)
    return;
  jmp_buf env;
  jmp_buf *saved = hwl_guard;
  if (setjmp(env)) {
    hwl_guard = saved;
    return;
  }
  hwl_guard = &env;
  pci_cleanup(a);
  hwl_guard = saved;
}

int hwl_pci_scan(struct pci_access *a, char *err, size_t errlen) {
  HWL_GUARDED(err, errlen, pci_scan_bus(a));
  return 0;
}

int hwl_pci_fill(struct pci_dev *d, int flags, char *err, size_t errlen) {
  HWL_GUARDED(err, errlen, pci_fill_info(d, flags));
  return 0;
}

int hwl_pci_read_block(struct pci_dev *d, int pos, unsigned char *buf, int len, char *err,
                       size_t errlen) {
  int ok = 0;
  HWL_GUARDED(err, errlen, ok = pci_read_block(d, pos, buf, len));
  return ok ? 1 : 0;
}

#define HWL_LOOKUP(a, buf, size, flags, ...)                                         \
  do {                                                                                \
    const char *r = NULL;                                                             \
    jmp_buf env;                                                                      \
    jmp_buf *saved = hwl_guard;                                                       \
    if (setjmp(env)) {                                                                \
      hwl_guard = saved;                                                              \
      return NULL;                                                                    \
    }                                                                                 \
    hwl_guard = &env;                                                                 \
    r = pci_lookup_name(a, buf, size, (flags) | PCI_LOOKUP_NO_NUMBERS, __VA_ARGS__);  \
    hwl_guard = saved;                                                                \
    return r;                                                                         \
  } while (0)

const char *hwl_pci_vendor_name(struct pci_access *a, char *buf, int size, unsigned vendor) {
  HWL_LOOKUP(a, buf, size, PCI_LOOKUP_VENDOR, vendor);
}

const char *hwl_pci_device_name(struct pci_access *a, char *buf, int size, unsigned vendor,
                                unsigned device) {
  HWL_LOOKUP(a, buf, size, PCI_LOOKUP_DEVICE, vendor, device);
}

const char *hwl_pci_subsystem_name(struct pci_access *a, char *buf, int size, unsigned vendor,
                                   unsigned device, unsigned subvendor, unsigned subdevice) {
  HWL_LOOKUP(a, buf, size, PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE, vendor, device, subvendor,
             subdevice);
}

const char *hwl_pci_class_name(struct pci_access *a, char *buf, int size, unsigned cls) {
  HWL_LOOKUP(a, buf, size, PCI_LOOKUP_CLASS, cls);
}

const char *hwl_pci_progif_name(struct pci_access *a, char *buf, int size, unsigned cls,
                                unsigned progif) {
  HWL_LOOKUP(a, buf, size, PCI_LOOKUP_PROGIF, cls, progif);
}

// The kernel's getdents64 record (linux/dirent.h).
struct hwl_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

long hwl_list_names(int dirfd, const char *name, unsigned char *buf, size_t len) {
  // NULL: list `dirfd` itself, which stays open (one openat and close fewer per directory).
  int fd = name ? openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : dirfd;
  if (fd < 0) return -1;
  _Alignas(8) char raw[16384];
  size_t used = 0;
  long result = -1;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, raw, sizeof raw);
    if (n < 0) goto out;
    if (n == 0) break;
    for (long off = 0; off < n;) {
      const struct hwl_dirent64 *d = (const struct hwl_dirent64 *)(raw + off);
      off += d->d_reclen;
      if (d->d_name[0] == '.') continue;
      size_t k = strlen(d->d_name) + 1;
      if (used + k > len) {
        // A caller's own descriptor is rewound, so the call with a larger buffer starts over.
        if (!name) lseek(fd, 0, SEEK_SET);
        errno = ERANGE;
        goto out;
      }
      memcpy(buf + used, d->d_name, k);
      used += k;
    }
  }
  result = (long)used;
out:
  if (name) {
    int e = errno;
    close(fd);
    errno = e;
  }
  return result;
}
