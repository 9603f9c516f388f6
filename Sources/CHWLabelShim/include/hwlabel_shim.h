// CHWLabelShim: the smallest C layer Swift needs over libpci and libudev.
//
// Only what Swift cannot do itself lives here:
//  - libpci's error hook is variadic and `noreturn` (its default calls exit(1)); ours records the
//    message and longjmps back into the wrapper that called libpci, which returns -1.
//  - pci_lookup_name() is variadic; one fixed-arity wrapper per lookup kind.
//  - OR-ed flag macros do not import into Swift; they are static consts here.
//  - getdents64 has no Glibc wrapper Swift can see; a directory listing through fdopendir costs
//    four extra system calls per directory, paid for every function and IOMMU group.
// Every symbol carries the `hwl_` prefix. No logic beyond that.
#ifndef HWLABEL_SHIM_H
#define HWLABEL_SHIM_H

#include <stddef.h>
#include <pci/pci.h>
#include <libudev.h>

/// Fields the probe asks libpci for on every function of a dump (identity comes from libpci).
static const int HWL_PCI_FILL_PROBE =
    PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT | PCI_FILL_SUBSYS |
    PCI_FILL_BASES | PCI_FILL_SIZES | PCI_FILL_IO_FLAGS | PCI_FILL_CAPS | PCI_FILL_EXT_CAPS;
/// In sysfs mode the probe reads identity files itself (strictly, with warnings that name the
/// file); libpci is asked only for BARs and the capability walk, so no file is read twice.
static const int HWL_PCI_FILL_SYSFS =
    PCI_FILL_BASES | PCI_FILL_SIZES | PCI_FILL_IO_FLAGS | PCI_FILL_CAPS | PCI_FILL_EXT_CAPS;

/// Allocates an access object with non-exiting hooks, sets one parameter (may be NULL) and
/// initialises it. Returns NULL and fills `err` when libpci reports an error.
struct pci_access *hwl_pci_open(unsigned int method, const char *param, const char *value,
                                char *err, size_t errlen);
/// pci_cleanup(); safe on an access object whose call longjmp'ed out.
void hwl_pci_close(struct pci_access *a);
/// pci_scan_bus() under the error guard: 0 on success, -1 with `err` filled.
int hwl_pci_scan(struct pci_access *a, char *err, size_t errlen);
/// pci_fill_info() under the error guard: 0 on success, -1 with `err` filled.
int hwl_pci_fill(struct pci_dev *d, int flags, char *err, size_t errlen);
/// pci_read_block() under the error guard: 1 read, 0 not readable, -1 error with `err`.
int hwl_pci_read_block(struct pci_dev *d, int pos, unsigned char *buf, int len,
                       char *err, size_t errlen);
/// Pops the oldest warning libpci emitted on this thread; returns 0 when there is none.
int hwl_pci_take_warning(char *buf, size_t len);

/// Name lookups (PCI_LOOKUP_NO_NUMBERS: NULL when the ID is not in hwdb/pci.ids).
const char *hwl_pci_vendor_name(struct pci_access *a, char *buf, int size, unsigned vendor);
const char *hwl_pci_device_name(struct pci_access *a, char *buf, int size, unsigned vendor,
                                unsigned device);
const char *hwl_pci_subsystem_name(struct pci_access *a, char *buf, int size, unsigned vendor,
                                   unsigned device, unsigned subvendor, unsigned subdevice);
const char *hwl_pci_class_name(struct pci_access *a, char *buf, int size, unsigned cls);
const char *hwl_pci_progif_name(struct pci_access *a, char *buf, int size, unsigned cls,
                                unsigned progif);

/// Lists directory `name` relative to `dirfd` (an open directory, or AT_FDCWD): openat,
/// getdents64 until the end, close. With `name` NULL, lists the directory `dirfd` (freshly
/// opened, not yet read) itself and leaves it open. Names that start with '.' are left out;
/// the rest are packed NUL-terminated into `buf`. Returns the bytes used, or -1 with errno set
/// (ERANGE: `buf` is too small, call again with a larger one).
long hwl_list_names(int dirfd, const char *name, unsigned char *buf, size_t len);

#endif
