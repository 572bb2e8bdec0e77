#ifndef NEXTPRISM_DISCOVERY_HPP
#define NEXTPRISM_DISCOVERY_HPP

// Every discovery backend (each header also stands alone).
#include <nextprism/discovery/cached.hpp>
#include <nextprism/discovery/concept.hpp>
#include <nextprism/discovery/dns.hpp>
#include <nextprism/discovery/placement.hpp>
#include <nextprism/discovery/static_list.hpp>
#include <nextprism/discovery/swarm_labels.hpp>

#endif
