// Link-layer shims (TAP, AF_PACKET, libpcap). Owned by the Links module.
#ifndef RTU_SHIMS_LINK_H
#define RTU_SHIMS_LINK_H
#include <stdint.h>
#include <stddef.h>

#endif
