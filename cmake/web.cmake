# The web dashboard (web/: Vite 7 + TypeScript + Preact) built by the normal build and embedded
# in the skiff binary (src/dashboard serves it). Each build directory builds its own copy into
# <build>/web-dist: nothing is written into web/dist.
#
#   -DSKIFF_WEB=OFF   builds skiff without the dashboard (an empty asset table; "/" then says
#                     how to build it). Needs neither Node.js nor web/node_modules.
option(SKIFF_WEB "Build the web dashboard (web/) with Vite and embed it in the skiff binary" ON)

find_program(SKIFF_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT SKIFF_PYTHON3)
  find_program(SKIFF_PYTHON3 python3 REQUIRED)
endif()

if(SKIFF_WEB)
  set(SKIFF_WEB_DIR ${CMAKE_SOURCE_DIR}/web)
  if(NOT EXISTS ${SKIFF_WEB_DIR}/node_modules/vite/bin/vite.js)
    message(FATAL_ERROR
      "The web dashboard cannot be built: ${SKIFF_WEB_DIR}/node_modules/vite is missing. "
      "Run scripts/peers.sh (or `make deps`) to install the web app's packages, or configure "
      "with -DSKIFF_WEB=OFF to build skiff without the dashboard.")
  endif()
  find_program(SKIFF_NODE node)
  if(NOT SKIFF_NODE)
    message(FATAL_ERROR "The web dashboard needs Node.js (node) to build: install it, or "
      "configure with -DSKIFF_WEB=OFF to build skiff without the dashboard.")
  endif()
endif()

# Adds the generated asset table (cmake/embed_web.py) to `target`: every file Vite wrote, with its
# content type, a gzip copy and an ETag, as skiff::dashboard::EmbeddedAssets().
function(skiff_web_assets target)
  set(generator ${CMAKE_SOURCE_DIR}/cmake/embed_web.py)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/embedded/web_assets.cpp)
  if(SKIFF_WEB)
    set(dist ${CMAKE_BINARY_DIR}/web-dist)
    file(GLOB_RECURSE web_inputs CONFIGURE_DEPENDS ${SKIFF_WEB_DIR}/src/* ${SKIFF_WEB_DIR}/public/*)
    add_custom_command(OUTPUT ${output}
      COMMAND ${SKIFF_PYTHON3} ${generator} --output ${output} --web ${SKIFF_WEB_DIR}
              --dist ${dist} --node ${SKIFF_NODE}
      BYPRODUCTS ${dist}/index.html
      DEPENDS ${generator} ${web_inputs} ${SKIFF_WEB_DIR}/index.html
              ${SKIFF_WEB_DIR}/vite.config.ts ${SKIFF_WEB_DIR}/tsconfig.json
              ${SKIFF_WEB_DIR}/package-lock.json
      WORKING_DIRECTORY ${SKIFF_WEB_DIR}
      COMMENT "Building the web dashboard (vite build) and embedding it"
      VERBATIM)
  else()
    add_custom_command(OUTPUT ${output}
      COMMAND ${SKIFF_PYTHON3} ${generator} --output ${output} --empty
      DEPENDS ${generator}
      COMMENT "Embedding an empty web dashboard (SKIFF_WEB=OFF)"
      VERBATIM)
  endif()
  target_sources(${target} PRIVATE ${output})
endfunction()
