# facet_add_plugin(NAME SOURCES...)
#
# Builds a facet plugin: a shared library linked against the SDK, with hidden
# symbols except its Boost.DLL entry points, placed in the plugin folder the
# runner searches (<build>/lib/facet/plugins in this tree) and installed to
# <prefix>/lib/facet/plugins. Works in the facet tree and, through
# find_package(facet), in a separate project.
function(facet_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE facet::facet)
  set_target_properties(${name} PROPERTIES
    PREFIX "libfacet_"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/lib/facet/plugins")
  if(COMMAND facet_use_pch)
    facet_use_pch(${name})
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION lib/facet/plugins)
endfunction()
