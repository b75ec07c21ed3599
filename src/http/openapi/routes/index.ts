/**
 * Loads every route documentation file. A route added elsewhere is documented by calling
 * `documentRoute()` (src/http/openapi/registry.ts), in a file here imported below or in the
 * module that adds the route.
 */
import './connections.ts';
import './workspaces.ts';
import './modules.ts';
import './service.ts';
import './inspector.ts';
import './dead-letters.ts';
