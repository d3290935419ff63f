/** Every database a test file makes starts with this, so leftovers can be found and dropped. */
export const TEST_DATABASE_PREFIX = 'mykey_test_';
